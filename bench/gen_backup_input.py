#!/usr/bin/env python3
"""Generates the backup benchmark's input: JPEG-like incompressible photos (50 KB to 8 MB, 30% of
them duplicates under other names), 20,000 small files, one 1 GiB video and Chinese chat text.
Usage: gen_backup_input.py DIR [SCALE]   (SCALE 1.0 = the full 3.2 GiB set; 0.1 for a quick run)"""
import os, random, sys

out = sys.argv[1]
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
rng = random.Random(20261124)
GiB = 1 << 30

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

def jpeg_like(size):
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 4)

# Photos: unique files until 70% of the photo budget, then 30% of the count again as duplicates.
photo_budget = int(2 * GiB * scale)
uniques = []
total = 0
i = 0
while total < photo_budget * 0.7:
    size = int(rng.lognormvariate(12.8, 1.0))
    size = max(50_000, min(size, 8_000_000))
    path = os.path.join(out, "Tencent Files/12345678/Image/Group2", f"{i % 97:02X}", f"IMG{i:06d}.jpg")
    write(path, jpeg_like(size))
    uniques.append(path)
    total += size
    i += 1
dups = int(len(uniques) * 0.3 / 0.7)
for j in range(dups):
    src = rng.choice(uniques)
    with open(src, "rb") as f:
        data = f.read()
    write(os.path.join(out, "photos/phone", f"copy_{j:06d}.jpg"), data)
    total += len(data)

# 20,000 small files: text notes and small binaries.
for k in range(int(20_000 * scale)):
    if k % 2:
        data = ("第%d条笔记：今天天气不错，记录一下。\n" % k).encode() * rng.randint(1, 60)
    else:
        data = os.urandom(rng.randint(200, 8000))
    write(os.path.join(out, "Tencent Files/12345678/FileRecv", f"d{k % 200:03d}", f"f{k:05d}.dat"), data)

# One incompressible video.
video = os.path.join(out, "Tencent Files/12345678/Video/movie.mp4")
os.makedirs(os.path.dirname(video), exist_ok=True)
with open(video, "wb") as f:
    f.write(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 12)
    left = int(GiB * scale) - 24
    while left > 0:
        n = min(left, 1 << 24)
        f.write(os.urandom(n))
        left -= n

# Chinese chat text, as a Message Manager TXT export (UTF-8 with BOM, CRLF).
words = "今天 明天 我们 你们 他们 吃饭 开会 北京 上海 大学 老师 同学 简单 处理 记录 图片 文件 下载 好的 哈哈 周末 爬山 电影 考试 作业 工作 项目 代码 本田 汽车 灯 聊天 手机 电脑 晚上 早上".split()
target = int(200 * (1 << 20) * scale)
os.makedirs(os.path.join(out, "QQ导出"), exist_ok=True)
with open(os.path.join(out, "QQ导出/全部消息记录.txt"), "wb") as f:
    sep = "=" * 64
    head = "\ufeff消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n%s\r\n消息分组:我的QQ群\r\n%s\r\n消息对象:测试群\r\n%s\r\n\r\n" % (sep, sep, sep)
    f.write(head.encode())
    written = 0
    n = 0
    buf = []
    while written < target:
        h, m, s = (n // 3600) % 24, (n // 60) % 60, n % 60
        day = 1 + (n // 86400) % 28
        text = "".join(rng.choice(words) for _ in range(rng.randint(3, 20)))
        rec = "2016-07-%02d %d:%02d:%02d 用户%d(%d)\r\n%s\r\n\r\n" % (day, h, m, s, n % 300, 10000 + n % 300, text)
        b = rec.encode()
        buf.append(b)
        written += len(b)
        n += 1
        if len(buf) > 10000:
            f.write(b"".join(buf))
            buf = []
    f.write(b"".join(buf))
print(f"generated {out}: photos {total / GiB:.2f} GiB ({len(uniques)} unique + {dups} duplicates)")
