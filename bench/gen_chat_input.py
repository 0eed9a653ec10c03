#!/usr/bin/env python3
"""Generates the conversation benchmark's input: a Message Manager TXT export of N messages
(UTF-8 with BOM, CRLF, realistic Chinese messages with lone LF inside some bodies) and an MHT
export of M messages with K embedded images.
Usage: gen_chat_input.py DIR [MESSAGES=2000000] [MHT_MESSAGES=200000] [IMAGES=5000]"""
import base64, os, random, sys

out = sys.argv[1]
n_txt = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
n_mht = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
n_img = int(sys.argv[4]) if len(sys.argv) > 4 else 5000
rng = random.Random(42)
os.makedirs(out, exist_ok=True)
words = ("今天 明天 我们 你们 他们 吃饭 开会 北京 上海 大学 老师 同学 简单 处理 记录 [图片] [表情] 文件 下载 好的 哈哈 "
         "周末 爬山 电影 考试 作业 工作 项目 代码 本田 汽车 灯 聊天 手机 电脑 晚上 早上 OK http://example.com 13812345678").split()
senders = [("用户%d" % i, str(10000 + i * 37)) for i in range(300)] + [("邮箱用户", "someone@example.com"), ("", "7471118")]

def text():
    t = "".join(rng.choice(words) for _ in range(rng.randint(2, 18)))
    if rng.random() < 0.03:
        t += "\n" + "".join(rng.choice(words) for _ in range(3))
    return t

sep = "=" * 64
with open(os.path.join(out, "chat-utf8bom.txt"), "wb") as f:
    f.write(("\ufeff消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n%s\r\n消息分组:我的QQ群\r\n%s\r\n消息对象:测试群\r\n%s\r\n\r\n" % (sep, sep, sep)).encode())
    buf = []
    for i in range(n_txt):
        s = i * 7
        d, s = divmod(s, 86400)
        y, rest = 2010 + d // 336, d % 336
        name, ident = rng.choice(senders)
        idpart = "<%s>" % ident if "@" in ident else "(%s)" % ident
        buf.append("%d-%02d-%02d %d:%02d:%02d %s%s\r\n%s\r\n\r\n" % (y, rest // 28 + 1, rest % 28 + 1, s // 3600, s // 60 % 60, s % 60, name, idpart, text()))
        if len(buf) >= 20000:
            f.write("".join(buf).encode())
            buf = []
    f.write("".join(buf).encode())

def tiny_png(seed):
    import struct, zlib
    r = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(r.randrange(256) for _ in range(24)) for _ in range(8))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

bd = "----=_NextPart_01234567_89AB_4cde_F012.3456789ABCDE"
with open(os.path.join(out, "chat.mht"), "wb") as f:
    f.write(("\ufeffFrom: <Save by Tencent MsgMgr>\r\nSubject: Tencent IM Message\r\nMIME-Version: 1.0\r\nContent-Type:multipart/related;\r\n\tcharset=\"utf-8\"\r\n\ttype=\"text/html\";\r\n\tboundary=\"%s\"\r\n\r\n--%s\r\nContent-Type: text/html\r\nContent-Transfer-Encoding:7bit\r\n\r\n" % (bd, bd)).encode())
    f.write('<html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /><title>QQ Message</title></head><body><table width=100% cellspacing=0><tr><td><div style=padding-left:10px;><br><b>消息记录</b></div></td></tr><tr><td><div style=padding-left:10px;>消息分组:我的好友</div></td></tr><tr><td><div style=padding-left:10px;>消息对象:测试好友</div></td></tr><tr><td><div style=padding-left:10px;>&nbsp;</div></td></tr>'.encode())
    per_img = max(1, n_mht // max(1, n_img))
    buf = []
    for i in range(n_mht):
        if i % 500 == 0:
            buf.append("<tr><td style=border-bottom-width:1px;color:#3568BB;font-weight:bold;padding-left:10px;>日期: %d-%02d-%02d</td></tr>\r\n" % (2015 + i // 150000, (i // 12500) % 12 + 1, (i // 500) % 28 + 1))
        me = i % 2 == 0
        body = text().replace("\n", "<br>")
        if i % per_img == 0 and i // per_img < n_img:
            body += '<IMG src="{%08X-0000-4000-8000-%012X}.dat">' % (i // per_img, i)
        buf.append("<tr><td><div style=color:%s;padding-left:10px;><div style=float:left;margin-right:6px;>%s</div>%d:%02d:%02d</div><div style=padding-left:20px;><font style=\"font-size:10pt;\" color='000000'>%s</font></div></td></tr>\r\n" % ("#42B475" if me else "#006EFE", "我" if me else "测试好友", (i // 3600) % 24, (i // 60) % 60, i % 60, body))
        if len(buf) >= 20000:
            f.write("".join(buf).encode())
            buf = []
    f.write("".join(buf).encode())
    f.write(b"</table></body></html>\r\n")
    for k in range(n_img):
        i = k * per_img
        data = base64.b64encode(tiny_png(k)).decode()
        lines = "\r\n".join(data[j:j + 100] for j in range(0, len(data), 100))
        f.write(("--%s\r\nContent-Type:image/png\r\nContent-Transfer-Encoding:base64\r\nContent-Location:{%08X-0000-4000-8000-%012X}.dat\r\n\r\n%s\r\n\r\n" % (bd, k, i, lines)).encode())
    f.write(("--%s--\r\n" % bd).encode())
print("generated", out)
