"""How fast a model will answer on this computer, known before it is downloaded.

machine_bench.py measures what decides speed (memory bandwidth, llama.cpp's matrix throughput
per tensor type on prompt_probe.py's synthetic files, attention's cost per score, its one-token
kernels per type), once per machine; gpu_speed.py describes GPUs from their drivers' facts;
profile_cache.py keeps the result per machine and runs the benchmark in a child for the window;
predict.py turns that and a file's facts into "about 12 words a second" and the wait before the
first word; record.py keeps what real answers measured next to what was predicted. No Qt here.
"""
