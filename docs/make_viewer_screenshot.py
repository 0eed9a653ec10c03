#!/usr/bin/env python3
"""Makes docs/viewer.png, the README's picture of the viewer: writes a small made-up chat (an MHT
export with two drawn photos and a TXT export of the same conversation with a system message),
backs it up with qqvault, unzips the archive with zipfile and photographs one page with headless
Chromium. Usage: docs/make_viewer_screenshot.py [QQVAULT_BINARY]   (run from the repository)"""
import base64, math, os, shutil, struct, subprocess, sys, tempfile, zipfile, zlib

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/qqvault"

def png(w, h, pixel):
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def mountains(x, y, w=360, h=240):
    ridge1 = h * 0.55 + 28 * math.sin(x / 37.0) + 14 * math.sin(x / 11.0)
    ridge2 = h * 0.68 + 20 * math.sin(x / 53.0 + 2) + 6 * math.sin(x / 7.0)
    if (x - w * 0.72) ** 2 + (y - h * 0.28) ** 2 < 22 ** 2:
        return (255, 226, 150)
    if y > ridge2:
        return (46, 92, 80) if y < h * 0.85 else (70, 130, 170)
    if y > ridge1:
        return (88, 118, 140)
    t = y / h
    return (int(120 + 110 * t), int(170 + 60 * t), int(235 - 10 * t))

def flowers(x, y, w=300, h=200):
    cx, cy = w / 2, h / 2
    r = math.hypot(x - cx, y - cy)
    a = math.atan2(y - cy, x - cx)
    petal = 60 + 25 * math.cos(6 * a)
    if r < 18:
        return (250, 200, 60)
    if r < petal:
        return (235, 110 + int(r), 150)
    return (int(150 + x / 6), 200, int(120 + y / 4))

sep = "=" * 64
work = tempfile.mkdtemp()
src = os.path.join(work, "QQ导出")
os.makedirs(src)
bd = "----=_NextPart_DEMO_0001"
img1, img2 = "{1D2C3B4A-0000-4000-8000-000000000001}.dat", "{1D2C3B4A-0000-4000-8000-000000000002}.dat"
rows = [
    ("日期", "2023-05-20"),
    ("阿青", "#006EFE", "09:12:03", "早！周末去爬山吗？天气预报说今天特别晴"),
    ("我", "#42B475", "09:13:40", "去！我带相机"),
    ("阿青", "#006EFE", "09:14:02", "那十点山脚下见，记得带水"),
    ("日期", "2023-05-21"),
    ("我", "#42B475", "17:46:21", "山顶拍的<IMG src=\"%s\">" % img1),
    ("阿青", "#006EFE", "17:50:09", "太好看了！<br>下山路上还看到这个：<IMG src=\"%s\">" % img2),
    ("我", "#42B475", "17:51:30", "下次叫上班长一起"),
]
html = ['<html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /><title>QQ Message</title></head><body><table width=100% cellspacing=0>'
        '<tr><td><div style=padding-left:10px;><br><b>消息记录</b></div></td></tr><tr><td><div style=padding-left:10px;>消息分组:我的好友</div></td></tr>'
        '<tr><td><div style=padding-left:10px;>消息对象:阿青</div></td></tr><tr><td><div style=padding-left:10px;>&nbsp;</div></td></tr>']
for r in rows:
    if r[0] == "日期":
        html.append("<tr><td style=border-bottom-width:1px;color:#3568BB;font-weight:bold;padding-left:10px;>日期: %s</td></tr>\r\n" % r[1])
    else:
        html.append("<tr><td><div style=color:%s;padding-left:10px;><div style=float:left;margin-right:6px;>%s</div>%s</div><div style=padding-left:20px;><font color='000000'>%s</font></div></td></tr>\r\n" % (r[1], r[0], r[2], r[3]))
html.append("</table></body></html>")
parts = [(img1, png(360, 240, mountains)), (img2, png(300, 200, flowers))]
mht = ["\ufeffFrom: <Save by Tencent MsgMgr>\r\nSubject: Tencent IM Message\r\nMIME-Version: 1.0\r\nContent-Type:multipart/related;\r\n\tcharset=\"utf-8\"\r\n\ttype=\"text/html\";\r\n\tboundary=\"%s\"\r\n\r\n--%s\r\nContent-Type: text/html\r\nContent-Transfer-Encoding:7bit\r\n\r\n" % (bd, bd), "".join(html), "\r\n\r\n"]
for name, data in parts:
    b64 = base64.b64encode(data).decode()
    mht.append("--%s\r\nContent-Type:image/png\r\nContent-Transfer-Encoding:base64\r\nContent-Location:%s\r\n\r\n%s\r\n\r\n" % (bd, name, "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))))
mht.append("--%s--\r\n" % bd)
with open(os.path.join(src, "阿青.mht"), "wb") as f:
    f.write("".join(mht).encode())
txt = ("\ufeff消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n%s\r\n消息分组:我的好友\r\n%s\r\n消息对象:阿青\r\n%s\r\n\r\n" % (sep, sep, sep)
       + "2023-05-21 17:48:00 系统消息(10000)\r\n阿青 通过扫码加入了相册“周末爬山” 17:48:00\r\n\r\n")
with open(os.path.join(src, "阿青.txt"), "wb") as f:
    f.write(txt.encode())

archive = os.path.join(work, "demo.zip")
subprocess.run([binary, "backup", src, "-o", archive, "--force"], check=True, stdout=subprocess.DEVNULL)
unpacked = os.path.join(work, "unpacked")
zipfile.ZipFile(archive).extractall(unpacked)
chats = os.path.join(unpacked, "viewer", "chats")
conv = os.path.join(chats, os.listdir(chats)[0])
page = os.path.join(conv, sorted(p for p in os.listdir(conv) if p != "index.html")[0])
out = os.path.abspath("docs/viewer.png")
subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "--user-data-dir=" + os.path.join(work, "profile"), "--window-size=760,1040",
                "--screenshot=" + out, "file://" + page], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(work)
print(out, os.path.getsize(out), "bytes")
