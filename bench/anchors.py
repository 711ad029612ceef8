"""Measured anchors side by side: SetFit, sentence-transformers' own trainer, likewise, closed forms, raw.

    python bench/anchors.py [--datasets rotten_tomatoes,bbc_news,drug_reviews,foldoc,drug_conditions]
                            [--per-class 8] [--seeds 3,4,5] [--max-test 1500] [--methods ...] [--out rows.jsonl]
    python bench/anchors.py --summarize rows.jsonl

Same protocol and splits as bench/quality.py (likewise.evaluation: stratified 60/40 split by seed), with a
budget of exactly ``--per-class`` labeled records per class drawn from the 60% (SetFit's few-shot setting),
scored among the held-out 40%. A held-out split larger than ``--max-test`` (Rotten Tomatoes' 5,557) is
subsampled, stratified, by the split's seed, to that many records, the same records for every method, and
its k scaled by the same ratio (Rotten Tomatoes: k = 1000 x 1500 / 5557 = 270). k per set as bench/quality.py,
except drug conditions (k = 6: its smallest held-out class has 7 records). Methods, each fitted on the budget only:

* ``raw``, ``lda``, ``lda_shrinkage``, ``reference``, ``likewise`` (the default, ``Tuner(method="auto")`` with
  self-training on the training pool outside the budget as unlabeled records, never the held-out ones),
  ``auto_labeled`` (the same on the budget alone), maps on cached vectors — as in bench/quality.py;
* ``likewise_auto`` — the default ``likewise tune`` as a user runs it (``quality.tune_as_user``): a workspace
  with the budget's records labeled and ``AUTO_UNLABELED`` records of the training pool outside it unlabeled
  (a random sample by the seed), auto's choice among the maps and encoder fine-tuning within its default
  ``--time-budget`` of 300 s; the held-out records embedded by what it kept;
* ``likewise_encoder`` — ``likewise.tuning.encoder_finetune.finetune_encoder`` (supervised contrastive,
  likewise's class-balanced batches, 8 epochs at 5e-5, batch 32; best epoch on 20% of the budget), as
  ``likewise tune --train-encoder``;
* ``st_batch_all`` — sentence-transformers' ``SentenceTransformerTrainer`` with ``BatchAllTripletLoss`` and its
  ``GROUP_BY_LABEL`` sampler (8 epochs, batch 16, its default lr 5e-5), no validation;
* ``setfit`` — SetFit (PyPI ``setfit``, bench only) with the bundled all-MiniLM-L6-v2 as its body: contrastive
  pairs, 1 epoch, batch 16, ``num_iterations=5`` (its default is 20: see SETFIT_ITERATIONS); the tuned body's
  embeddings are scored.

Encoders are fine-tuned on the CPU (torch's threads as set by the environment); the held-out records are
embedded with each tuned model. ``seconds`` is the fit alone (model loading included), ``embed_seconds`` the
embedding of the scored and training records afterwards. Each row is appended to ``--out`` as it finishes,
with the 1-minute load average at its start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _embed(model, texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def likewise_encoder(texts, labels, seed):
    from sentence_transformers import SentenceTransformer

    from likewise.evaluation import holdout_split
    from likewise.tuning.encoder_finetune import finetune_encoder

    y = np.asarray(labels, dtype=object)
    tmp = tempfile.mkdtemp(prefix="anchor-lw-")
    if np.unique(y, return_counts=True)[1].min() >= 4:
        train, val = holdout_split(y, test_size=0.2, seed=seed)
        finetune_encoder([texts[i] for i in train], y[train], f"{tmp}/m", val_texts=[texts[i] for i in val],
                         val_labels=y[val], k=10, seed=seed, device="cpu")
    else:  # too few per class to hold any out: the fixed schedule, no best-epoch choice
        finetune_encoder(list(texts), y, f"{tmp}/m", k=10, seed=seed, device="cpu")
    return SentenceTransformer(f"{tmp}/m", device="cpu", local_files_only=True)


def st_batch_all(texts, labels, seed):
    import datasets
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )
    from transformers.trainer_callback import PrinterCallback

    from likewise.encoders.sentence_transformer import default_model_path

    datasets.disable_progress_bars()
    model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    classes = sorted(set(labels))
    data = datasets.Dataset.from_dict({"text": list(texts), "label": [classes.index(v) for v in labels]})
    model.model_card_data.set_widget_examples = lambda dataset: None
    with tempfile.TemporaryDirectory() as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch, num_train_epochs=8, per_device_train_batch_size=16, seed=seed,
            batch_sampler=BatchSamplers.GROUP_BY_LABEL, save_strategy="no", report_to=[], logging_strategy="no",
            disable_tqdm=True, use_cpu=True,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                             loss=losses.BatchAllTripletLoss(model))
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return model


SETFIT_ITERATIONS = 5
"""SetFit's recipe (CosineSimilarityLoss on sampled pairs, 1 epoch, batch 16, then its logistic-regression
head) with 5 pair iterations instead of its default 20: it trains on 2 x num_iterations pairs per record,
each pair two forward/backward passes, so 20 iterations cost 80 passes per labeled record against 8 for
likewise's 8 epochs (on 2 shared cores one fit on 24 records did not finish in 8 minutes); 5 gives 20
passes per record, still 2.5x likewise's."""


def setfit(texts, labels, seed):
    import datasets
    from setfit import SetFitModel, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from likewise.encoders.sentence_transformer import default_model_path

    datasets.disable_progress_bars()
    model = SetFitModel.from_pretrained(str(default_model_path()), local_files_only=True, device="cpu")
    data = datasets.Dataset.from_dict({"text": list(texts), "label": [str(v) for v in labels]})
    with tempfile.TemporaryDirectory() as scratch:  # SetFit writes ./checkpoints by default
        args = TrainingArguments(output_dir=scratch, batch_size=16, num_epochs=1, num_iterations=SETFIT_ITERATIONS,
                                 seed=seed, show_progress_bar=False, report_to="none")
        trainer = Trainer(model=model, args=args, train_dataset=data)
        for noisy in (PrinterCallback, ProgressCallback):
            trainer.st_trainer.remove_callback(noisy) if hasattr(trainer, "st_trainer") else None
        trainer.train()
    return model.model_body


MAX_TEST = 1500
"""Held-out records scored per split: every encoder-tuned method embeds them with its own model, which on
2 shared cores costs minutes for Rotten Tomatoes' 5,557; larger held-out splits are subsampled (stratified,
by the split's seed; the same records for every method) and k scaled by the same ratio."""
K = {"drug_conditions": 6}
"""k where it differs from bench/quality.py: drug conditions' smallest held-out class has 7 records (seeds 3-5),
so k = 6 lets every query's neighbours all be of its class."""


def scored_split(y: np.ndarray, seed: int, k: int, max_test: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(train pool, scored held-out positions, k): likewise.evaluation's 60/40 split; a held-out split larger
    than ``max_test`` is subsampled to ``max_test`` records (stratified) and k scaled with it."""
    from likewise.evaluation import holdout_split

    pool, test = holdout_split(y, seed=seed)
    if len(test) > max_test:
        k = max(1, round(k * max_test / len(test)))
        _, keep = holdout_split(y[test], test_size=max_test / len(test), seed=seed)
        test = test[keep]
    return pool, test, min(k, len(test) - 1)


ENCODER_METHODS = {"likewise_encoder": likewise_encoder, "st_batch_all": st_batch_all, "setfit": setfit}
AUTO_UNLABELED = 1000
"""``likewise_auto``: unlabeled pool records in its workspace (all of them would make every kept encoder embed
the whole pool: minutes per fit on Rotten Tomatoes' 8,000)."""
VECTOR_METHODS = ("raw", "lda", "lda_shrinkage", "reference", "likewise", "auto_labeled")


def summarize(path: str) -> None:
    """A Markdown table of rows written with --out: mean [min-max] over seeds per dataset x method."""
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    rows = list({(r["dataset"], r["method"], r["seed"]): r for r in rows}.values())  # a rerun row replaces the earlier
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        cells.setdefault((r["dataset"], r["method"]), []).append(r)
    print("| dataset (labels, k, scored) | method | seeds | top_k | MAP@R | logreg acc | fit s | embed s | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (dataset, method), rs in cells.items():
        def cell(m):
            values = [100 * r[m] for r in rs]
            return f"{np.mean(values):.1f} [{min(values):.1f}-{max(values):.1f}]"
        loads = [v for r in rs for v in (r.get("load_start"), r.get("load_end")) if v is not None]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""
        print(f"| {dataset} ({rs[0]['budget']}, {rs[0]['k']}, {rs[0].get('scored', '')}) | {method} | {len(rs)} | "
              f"{cell('top_k')} | {cell('map_at_r')} | {cell('logreg_accuracy')} | "
              f"{np.mean([r['seconds'] for r in rs]):.1f} | {np.mean([r.get('embed_seconds', 0) for r in rs]):.1f} | "
              f"{load} |")
    print()
    print("| dataset | seeds (paired) | SetFit top_k | likewise top_k | likewise - SetFit | SetFit fit s | likewise fit s "
          "| likewise_encoder top_k | likewise_encoder fit s | likewise_auto top_k | likewise_auto - SetFit "
          "| likewise_auto tune s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        by = {(r["method"], r["seed"]): r for r in rows if r["dataset"] == dataset}
        seeds = sorted(s for (m, s) in by if m == "setfit" and ("likewise", s) in by)
        if not seeds:
            continue
        mean = lambda m, key: np.mean([by[(m, s)][key] for s in seeds if (m, s) in by])
        enc = [s for s in seeds if ("likewise_encoder", s) in by]
        auto = [s for s in seeds if ("likewise_auto", s) in by]
        print(f"| {dataset} | {','.join(map(str, seeds))} | {100 * mean('setfit', 'top_k'):.1f} | "
              f"{100 * mean('likewise', 'top_k'):.1f} | {100 * (mean('likewise', 'top_k') - mean('setfit', 'top_k')):+.1f} | "
              f"{mean('setfit', 'seconds'):.0f} | {mean('likewise', 'seconds'):.1f} | "
              f"{100 * mean('likewise_encoder', 'top_k') if enc else float('nan'):.1f} | "
              f"{mean('likewise_encoder', 'seconds') if enc else float('nan'):.0f} | "
              f"{100 * mean('likewise_auto', 'top_k') if auto else float('nan'):.1f} | "
              f"{100 * (mean('likewise_auto', 'top_k') - mean('setfit', 'top_k')) if auto else float('nan'):+.1f} | "
              f"{mean('likewise_auto', 'seconds') if auto else float('nan'):.0f} |")


def main() -> None:
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        summarize(sys.argv[2])
        return

    sys.path.insert(0, os.path.dirname(__file__))
    import quality

    from likewise.evaluation import get_method, logistic_accuracy
    from likewise.labels import labeled_arrays
    from likewise.metrics import evaluate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="rotten_tomatoes,bbc_news,drug_reviews,foldoc,drug_conditions")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--seeds", default="3,4,5")
    parser.add_argument("--methods", default=",".join([*VECTOR_METHODS, "likewise_auto", *ENCODER_METHODS]))
    parser.add_argument("--max-test", type=int, default=MAX_TEST,
                        help="score on a stratified random subsample of this many held-out records (k scaled)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    methods = args.methods.split(",")
    for name in args.datasets.split(","):
        X, labels, texts = quality.vectors_for(name)
        positions, y = labeled_arrays(labels)
        budget = args.per_class * len(np.unique(y))
        for seed in [int(s) for s in args.seeds.split(",")]:
            pool, test, k_eff = scored_split(y, seed, K.get(name, quality.K[name]), args.max_test)
            rng = np.random.default_rng(seed)  # exactly --per-class records of each class (SetFit's few-shot setting)
            train = np.sort(np.concatenate([rng.choice(pool[y[pool] == c], args.per_class, replace=False)
                                            for c in np.unique(y)]))
            test_texts = [texts[positions[i]] for i in test]
            train_texts = [texts[positions[i]] for i in train]
            for method in methods:
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                if method == "likewise_auto":
                    rest = np.setdiff1d(pool, train)
                    extra = np.sort(rng.choice(rest, min(AUTO_UNLABELED, len(rest)), replace=False))
                    fit = quality.tune_as_user(name, X, texts, positions, y, train, extra, test, seed)
                    seconds, Z_train, Z_test = fit["seconds"], fit["Z_train"], fit["Z_test"]
                    print(f"# {name} seed {seed} likewise_auto kept {fit['result'].kind}: "
                          f"{fit['result'].selection and fit['result'].selection['scores'].get('encoder')}", flush=True)
                elif method in ENCODER_METHODS:
                    try:
                        model = ENCODER_METHODS[method](train_texts, list(y[train]), seed)
                    except Exception as exc:  # one anchor failing must not stop the others' rows
                        print(f"# {name} seed {seed} {method} failed: {type(exc).__name__}: {exc}", file=sys.stderr,
                              flush=True)
                        continue
                    seconds = time.perf_counter() - t0
                    Z_test, Z_train = _embed(model, test_texts), _embed(model, train_texts)
                else:
                    # the training pool outside the budget is unlabeled (likewise self-trains on it; the others
                    # ignore it); the held-out records never are
                    unlabeled = X[positions[np.setdiff1d(pool, train)]]
                    Z = get_method(method)(X[positions[train]], y[train], X[positions[np.concatenate([train, test])]],
                                           seed, k_eff, X_unlabeled=unlabeled)
                    seconds = time.perf_counter() - t0
                    Z_train, Z_test = Z[: len(train)], Z[len(train):]
                embed_seconds = time.perf_counter() - t0 - seconds
                m = evaluate(Z_test, y[test], k_eff, metrics=["top_k", "map_at_r"])
                m["logreg_accuracy"] = logistic_accuracy(Z_train, y[train], Z_test, y[test])
                row = {"dataset": name, "method": method, "budget": str(budget), "seed": seed, "seconds": seconds,
                       "embed_seconds": embed_seconds, "k": k_eff, "scored": len(test),
                       "load_start": load, "load_end": os.getloadavg()[0], **{key: float(v) for key, v in m.items()}}
                print(json.dumps(row), flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as out:
                        out.write(json.dumps(row) + "\n")

if __name__ == "__main__":
    main()
