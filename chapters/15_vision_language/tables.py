"""The chapter's result tables, rendered from results.json (written by run.py), so the text quotes the recorded
run and nothing else. ``python chapters/15_vision_language/tables.py [results.json]`` prints them;
tests/chapters/test_ch15_vision_language.py checks that README.md contains exactly these tables."""
from __future__ import annotations

import json
import pathlib
import re
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
    rows = ["| run | steps × batch | learning rate | seed | trained parameters | training time (wall) | s / step | "
            "load average (1 min) before → after |",
            "|---|---|---|---|---|---|---|---|"]
    for r in res["runs"].values():
        for stage in r["stages"]:
            rows.append(f"| {stage['name']} | {stage['steps']} × {stage['batch_size']} | {stage['lr']:g} | "
                        f"{stage.get('seed', '–')} | {stage['trained_parameters']:,} | {stage['seconds']:.0f} s | "
                        f"{stage['seconds'] / stage['steps']:.2f} | {stage['load'][0]:.1f} → {stage['load'][1]:.1f} |")
    return "\n".join(rows)


def recorded_numbers(res) -> set:
    """Every way the text may write a number of results.json: rounded to 0, 1 or 2 decimals, with thousands
    separators, and fractions in [0, 1] as per cent."""
    out = set()

    def walk(x):
        if isinstance(x, bool):
            return
        if isinstance(x, (int, float)):
            forms = [x] + ([100 * x] if 0 <= x <= 1 else [])
            for v in forms:
                out.update({f"{v:.0f}", f"{v:.1f}", f"{v:.2f}", f"{v:,.0f}"})
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
    walk(res)
    return out


CHECKED = re.compile(r"<!-- numbers from results.json -->(.*?)<!-- end numbers -->", re.S)
NUMBER = re.compile(r"(?<![\w@.\-/^_{])\d[\d,]*(?:\.\d+)?(?![\w\-/}])")


def prose_numbers(readme: str) -> list:
    """The numbers written in the prose of the README's checked sections (between the markers), leaving out
    tables, code, formulas, figure and link targets, and the integers 0–10 (counts like 'two cores')."""
    found = []
    for block in CHECKED.findall(readme):
        block = re.sub(r"```.*?```", " ", block, flags=re.S)
        block = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\]\([^)]*\)", " ", block, flags=re.S)
        for line in block.splitlines():
            if line.lstrip().startswith(("|", "<!--")):
                continue
            for m in NUMBER.finditer(line):
                t = m.group().rstrip(",")
                if not (t.isdigit() and int(t) <= 10):
                    found.append(t)
    return found


def unrecorded_numbers(readme: str, res: dict) -> list:
    """Numbers of the checked prose that results.json does not hold (the test wants none)."""
    known = recorded_numbers(res)
    return [t for t in prose_numbers(readme) if t not in known]


def all_tables(res: dict) -> dict:
    return {"runs": runs_table(res), "captions": captions_table(res), "qa": qa_table(res),
            "retrieval": retrieval_table(res)}


def write_tables(readme: str, res: dict) -> str:
    """``readme`` with the table after each ``<!-- table: NAME -->`` line replaced by the one rendered now."""
    for name, table in all_tables(res).items():
        pattern = re.compile(rf"<!-- table: {name} -->\n(?:\|[^\n]*\n)*")
        if not pattern.search(readme):
            raise ValueError(f"README.md has no '<!-- table: {name} -->' line")
        readme = pattern.sub(lambda m: f"<!-- table: {name} -->\n{table}\n", readme)
    return readme


if __name__ == "__main__":
    # python tables.py [results.json] prints the tables; --write puts them into README.md (after a new run)
    argv = [a for a in sys.argv[1:] if a != "--write"]
    path = pathlib.Path(argv[0]) if argv else HERE / "results.json"
    res = json.loads(path.read_text())
    if "--write" in sys.argv:
        (HERE / "README.md").write_text(write_tables((HERE / "README.md").read_text(), res))
        left = unrecorded_numbers((HERE / "README.md").read_text(), res)
        print("README.md tables rewritten" + (f"; prose numbers not in results.json: {left}" if left else ""))
    else:
        for name, table in all_tables(res).items():
            print(f"<!-- table: {name} -->\n{table}\n")
