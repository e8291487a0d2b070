import sys, trio
sys.path.insert(0, "/work/main/bench")
from tap import bulk
port = int(sys.argv[1])
for _ in range(2):
    n, t = trio.run(bulk, port)
    print(n, t, n / t / 1e6, "MB/s")
