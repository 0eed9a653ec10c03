#!/usr/bin/env python3
"""Search benchmark: on the 2-million-message export of bench/parse.sh plus 100,000 photos, one
backup with its index, then 200 queries of 1 to 6 characters, rare and common, each as a fresh
`qqvault search --limit 50` process, against `rg -F -c` over the UTF-8 transcripts.
Usage: bench/search.py [CHAT_EXPORT] [WORK_DIR]"""
import json, os, random, statistics, subprocess, sys, time, zipfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
export = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/bench-data/chats/chat-utf8bom.txt")
work = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "target/bench-data/search")
qq = os.path.join(root, "target/release/qqvault")
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
inputs = os.path.join(work, "in")
photos = os.path.join(inputs, "photos")
if not os.path.isdir(photos):
    for i in range(100_000):
        d = os.path.join(photos, "%03d" % (i % 500))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "IMG_%06d.jpg" % i), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0" + os.urandom(1020))
    os.makedirs(os.path.join(inputs, "QQ导出"), exist_ok=True)
    os.link(export, os.path.join(inputs, "QQ导出", "全部消息记录.txt"))
archive = os.path.join(work, "search.zip")

def timed(cmd):
    """Wall seconds and peak RSS (MB) of a command, via /usr/bin/time."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + cmd, capture_output=True)
    dt = time.perf_counter() - t0
    rss = [int(l.split()[1]) for l in p.stderr.decode(errors="replace").splitlines() if l.startswith("RSS ")]
    return dt, (rss[-1] / 1024 if rss else 0), p

dt, rss, p = timed([qq, "backup", inputs, "-o", archive, "--force", "--json"])
if p.returncode != 0:
    sys.exit(p.stderr.decode())
summary = json.loads(p.stdout)
z = zipfile.ZipFile(archive)
index_bytes = sum(i.file_size for i in z.infolist() if i.filename.startswith("index/"))
info = json.loads(z.read("index/qqvault-index.json"))
text_bytes = info["text_bytes"]
msgs = summary["messages"]
# The index is built on a thread of its own beside the chat and viewer stages.
index_s = summary["timings"]["index_build"]
print(f"backup of {summary['files']} files with {msgs} messages: {dt:.1f} s, peak RSS {rss:.0f} MB; stages {summary['timings']}")
print(f"index build: {msgs / index_s:,.0f} messages/s (target >= 80,000); index {index_bytes / 1e6:.1f} MB for {text_bytes / 1e6:.1f} MB of text = {index_bytes / text_bytes:.2f}x (target <= 2x)")

# Transcripts for ripgrep.
tdir = os.path.join(work, "transcripts")
if not os.path.isdir(tdir):
    os.makedirs(tdir)
    for i in z.infolist():
        if i.filename.endswith("/transcript.txt"):
            with open(os.path.join(tdir, i.filename.split("/")[1] + ".txt"), "wb") as f:
                f.write(z.read(i.filename))

rng = random.Random(7)
texts = []
for i in z.infolist():
    if i.filename.endswith("messages.jsonl"):
        with z.open(i.filename) as f:
            for n, line in enumerate(f):
                if n % 997 == 0:
                    texts.append(json.loads(line)["text"])
common = ["的", "了", "我们", "今天", "北京", "大学", "吃饭", "好的", "哈哈", "工作"]
queries = []
while len(queries) < 200:
    if len(queries) % 4 == 0:
        queries.append(rng.choice(common))
    else:
        t = rng.choice(texts)
        n = rng.randint(1, 6)
        if len(t) >= n:
            s = rng.randint(0, len(t) - n)
            q = t[s:s + n].strip()
            if q and not q.startswith("-") and '"' not in q:
                queries.append(q)
qv, rg, rss_max = [], [], 0
for q in queries:
    dt, rss, p = timed([qq, "search", archive, q, "--limit", "50"])
    if p.returncode not in (0, 1):
        sys.exit(p.stderr.decode())
    qv.append(dt * 1000)
    rss_max = max(rss_max, rss)
    t0 = time.perf_counter()
    subprocess.run(["rg", "-F", "-c", q, tdir], capture_output=True)
    rg.append((time.perf_counter() - t0) * 1000)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]
print(f"search, 200 queries, fresh process, --limit 50: p50 {pct(qv, .5):.1f} ms, p95 {pct(qv, .95):.1f} ms (targets 10 / 50 ms); peak RSS {rss_max:.0f} MB (target <= 100)")
print(f"rg -F -c over the transcripts: p50 {pct(rg, .5):.1f} ms, p95 {pct(rg, .95):.1f} ms; qqvault is {pct(rg, .5) / pct(qv, .5):.1f}x faster at p50 (target >= 3x)")
