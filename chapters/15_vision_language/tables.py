"""The chapter's result tables, rendered from results.json (written by run.py), so the text quotes the recorded
run and nothing else. ``python chapters/15_vision_language/tables.py [results.json]`` prints them;
tests/chapters/test_ch15_vision_language.py checks that README.md contains exactly these tables."""
from __future__ import annotations

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
QUESTION_TYPES = ("shape", "colour", "size", "count", "exists", "relation")


def _pct(x):
    return "–" if x is None else f"{100 * x:.1f}"


def captions_table(res: dict) -> str:
    rows = ["| model | trained | split | caption exact match % | BLEU | exact, 1 / 2 / 3 objects % |",
            "|---|---|---|---|---|---|"]
    for key, ev in res["eval"].items():
        run = res["runs"][key]
        for split in ("test", "unseen"):
            e = ev[split]
            by = e["caption_exact_by_objects"]
            rows.append(f"| {run['label']} | {run['trained']} | {split} ({e['n']} scenes) | {_pct(e['caption_exact'])} | "
                        f"{e['caption_bleu']:.1f} | {' / '.join(_pct(by.get(str(k), by.get(k))) for k in (1, 2, 3))} |")
    return "\n".join(rows)


def qa_table(res: dict) -> str:
    rows = ["| model | split | " + " | ".join(QUESTION_TYPES) + " | all |", "|---|---|" + "---|" * (len(QUESTION_TYPES) + 1)]
    for key, ev in res["eval"].items():
        for split in ("test", "unseen"):
            e = ev[split]
            if "qa" not in e:
                continue
            rows.append(f"| {res['runs'][key]['label']} | {split} | "
                        + " | ".join(_pct(e["qa"].get(t)) for t in QUESTION_TYPES) + f" | {_pct(e['qa_accuracy'])} |")
            if key == "vlm":
                rows.append(f"| majority answer of the type (training split) | {split} | "
                            + " | ".join(_pct(e["qa_prior"].get(t)) for t in QUESTION_TYPES) + " | |")
    return "\n".join(rows)


def retrieval_table(res: dict) -> str:
    rows = ["| model | split | image → text R@1 / R@5 % | text → image R@1 / R@5 % | chance R@1 / R@5 % (i→t) |",
            "|---|---|---|---|---|"]
    for key, ev in res["eval"].items():
        for split in ("test", "unseen"):
            r = ev[split].get("retrieval")
            if r is None:
                continue
            i2t, t2i, ch = r["image_to_text"], r["text_to_image"], r["chance_image_to_text"]
            rows.append(f"| {res['runs'][key]['label']} | {split} ({r['n_images']} images, {r['n_captions']} captions) | "
                        f"{_pct(i2t['R@1'])} / {_pct(i2t['R@5'])} | {_pct(t2i['R@1'])} / {_pct(t2i['R@5'])} | "
                        f"{_pct(ch['R@1'])} / {_pct(ch['R@5'])} |")
    return "\n".join(rows)


def runs_table(res: dict) -> str:
    rows = ["| run | steps × batch | learning rate | trained parameters | training time | s / step | load average (1 min) before → after |",
            "|---|---|---|---|---|---|---|"]
    for r in res["runs"].values():
        for stage in r["stages"]:
            rows.append(f"| {stage['name']} | {stage['steps']} × {stage['batch_size']} | {stage['lr']:g} | "
                        f"{stage['trained_parameters']:,} | {stage['seconds']:.0f} s | {stage['seconds'] / stage['steps']:.2f} | "
                        f"{stage['load'][0]:.1f} → {stage['load'][1]:.1f} |")
    return "\n".join(rows)


def all_tables(res: dict) -> dict:
    return {"runs": runs_table(res), "captions": captions_table(res), "qa": qa_table(res),
            "retrieval": retrieval_table(res)}


if __name__ == "__main__":
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    for name, table in all_tables(json.loads(path.read_text())).items():
        print(f"<!-- table: {name} -->\n{table}\n")
