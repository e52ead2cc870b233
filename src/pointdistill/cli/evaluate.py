"""``pointdistill evaluate PROTOCOL``: score a checkpoint (or a random encoder) with a downstream protocol.

Every protocol takes the same arguments; its own knobs come as ``-o key=value`` and are checked against the
protocol's ``Options`` dataclass. ``--checkpoint random --config NAME`` evaluates the untrained encoder of a preset
(seeded by ``--seed``), the baseline that shows what pretraining gains. With ``--json`` stdout holds exactly one
JSON object; progress bars and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pointdistill.errors import ConfigError
from pointdistill.evaluation.protocols import get_protocol, protocol_names

_DESCRIPTION = """\
protocols:
  svm       linear SVM on frozen features, C chosen by cross-validation on train (headline: test_accuracy)
  knn       cosine k-NN, k = 5 and 20, weighted vote (headline: test_accuracy at the largest k)
  linear    linear probe on frozen features, epoch chosen on a validation split carved from train
  fewshot   N-way K-shot over folds (published folds when the dataset has them), mean +- std
  finetune  end-to-end fine-tuning classification
  partseg   part segmentation (Cls. and Inst. mIoU)
  diagnose  collapse diagnostics: effective rank, spectrum, t-SNE, CLS attention, training curves
  sceneseg  scene semantic segmentation of a scene encoder: linear probe on the up-cast features (or -o
            mode=finetune), mIoU on every original point (headline: miou)
  dos       DOS's own diagnostics on a DOS checkpoint: collapse entropies, prototype usage against the Zipf
            prior (usage.png), softmap sharpness by prototype rank (sharpness.png), logged curves
            (headline: effective_prototypes)

examples:
  pointdistill evaluate svm --checkpoint runs/dcglr/checkpoints/last.pt --data modelnet40_normal_resampled --json
  pointdistill evaluate knn --checkpoint random --config dcglr-vit-tiny --data synthetic:shapes -o ks=[1,5]
  pointdistill evaluate diagnose --checkpoint runs/dcglr --data modelnet40_ply_hdf5_2048 --out plots/
  pointdistill evaluate sceneseg --checkpoint random --config scene-tiny --data rooms/ --json
  pointdistill evaluate dos --checkpoint runs/dos-tiny --data rooms/ --out dos-plots/
"""


def _data_options(pairs: list[str]) -> dict[str, Any]:
    from pointdistill.config import parse_override

    options = {}
    for pair in pairs:
        path, value = parse_override(pair)
        options[".".join(path)] = value
    return options


def _option_keys(pairs: list[str]) -> set[str]:
    return {pair.split("=", 1)[0] for pair in pairs}


def _prepare_options(args: argparse.Namespace, module: Any, seed: int) -> Any:
    """The protocol's Options from ``-o`` plus what the shared flags imply (``--seed``, ``--out``, ``--tsne``)."""
    from pointdistill.evaluation.common import parse_options

    options = parse_options(module.Options, args.option, label=f"evaluate {args.protocol}")
    given = _option_keys(args.option)
    if hasattr(options, "seed") and "seed" not in given:
        options.seed = seed
    if args.out and hasattr(options, "plots_dir") and "plots_dir" not in given:
        options.plots_dir = str(Path(args.out))
    if args.tsne:
        if not hasattr(options, "tsne"):
            raise ConfigError(f"--tsne: protocol {args.protocol!r} draws no t-SNE")
        if not args.out and not getattr(options, "plots_dir", None):
            raise ConfigError("--tsne needs --out DIR to write the picture to")
        options.tsne = True
    if hasattr(options, "metrics") and options.metrics is None and args.checkpoint != "random":
        from pointdistill.api import checkpoint_file, run_folder

        beside = run_folder(checkpoint_file(args.checkpoint)) / "metrics.jsonl"
        if beside.is_file():
            options.metrics = str(beside)
    return options


def _architecture(config: Any, backbone: str) -> str:
    """What was evaluated: the object encoder, the scene encoder, or the method on its scene encoder."""
    if backbone == "object":
        return f"{config.encoder.name}/{config.encoder.preset}"
    scene = f"scene/{config.scene_encoder.preset}"
    return scene if backbone == "scene" else f"{config.method} on {scene}"


def run(args: argparse.Namespace) -> int:
    from pointdistill.api import load_encoder, load_method, load_scene_encoder
    from pointdistill.data.registry import open_dataset

    if args.config and args.checkpoint != "random":
        raise ConfigError("--config applies to --checkpoint random only; a checkpoint carries its own config")
    module = get_protocol(args.protocol)
    seed = 0 if args.seed is None else args.seed
    options = _prepare_options(args, module, seed)
    backbone = getattr(module, "BACKBONE", "object")
    load = {"scene": load_scene_encoder, "method": load_method}.get(backbone, load_encoder)
    encoder = load(args.checkpoint, config=args.config, device=args.device, seed=seed)
    source = open_dataset(args.data, args.format, **_data_options(args.data_option))
    start = time.perf_counter()
    result = module.run(encoder.factory(), source, options, encoder.device)
    result = {
        "protocol": result.pop("protocol", args.protocol),
        **result,
        "checkpoint": encoder.origin,
        "step": encoder.step,
        "encoder": _architecture(encoder.config, backbone),
        "encoder_seed": seed if encoder.origin == "random" else None,
        "data": str(args.data),
        "format": source.format,
        "device": str(encoder.device),
        "seconds": round(time.perf_counter() - start, 2),
    }
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.protocol}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(format_result(result))
    return 0


def _is_table(value: Any) -> bool:
    """A per-class mapping (name -> number or None), printed as a table, one line per name."""
    return isinstance(value, dict) and bool(value) and all(v is None or isinstance(v, (int, float))
                                                           for v in value.values())


def format_result(result: dict[str, Any]) -> str:
    """A few readable lines: the headline first, then the other short values (long lists and per-run details are
    in the JSON), then the knobs."""
    headline = result.get("headline")
    lines = [f"{result['protocol']} on {result.get('data', '?')} ({result.get('checkpoint', '?')})"]
    if headline in result:
        std = result.get(f"{headline}_std")
        lines.append(f"  {headline}: {result[headline]}" + (f" +- {std}" if std is not None else ""))
    skip = {"protocol", "headline", headline, f"{headline}_std", "options", "data", "checkpoint", "plots"}
    width = max((len(k) for k in result if k not in skip), default=0)
    for key, value in result.items():
        if key in skip or value is None or isinstance(value, (dict, list)) and len(str(value)) > 80:
            continue
        lines.append(f"  {key:<{width}}  {value}")
    for key, value in result.items():
        if key not in skip and _is_table(value):
            lines.append(f"  {key}:")
            name_width = max(len(str(name)) for name in value)
            lines.extend(f"    {name:<{name_width}}  {'-' if v is None else v}" for name, v in value.items())
    for path in result.get("plots", []):
        lines.append(f"  picture: {path}")
    if isinstance(result.get("options"), dict):
        lines.append("  options: " + ", ".join(f"{k}={v}" for k, v in result["options"].items()))
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score an encoder with a downstream protocol (svm, knn, linear, fewshot, finetune, partseg, diagnose, "
        "sceneseg, dos)",
        description="Score a checkpoint (or a random encoder) with a downstream protocol.",
        epilog=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("protocol", choices=protocol_names(), metavar="PROTOCOL", help="one of the protocols below")
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or run folder, or 'random'")
    parser.add_argument("--config", help="preset name or YAML file for --checkpoint random")
    parser.add_argument("--data", required=True, help="dataset folder or file, or synthetic:shapes")
    parser.add_argument("--format", default="auto", help="dataset reader (default: detect from the layout)")
    parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                        help="reader option, e.g. --data-option variant=pb_t50_rs (repeatable)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="protocol option, e.g. -o num_points=2048 (repeatable; unknown keys list the valid ones)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the protocol and of a random encoder (0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    parser.add_argument("--out", help="folder for <protocol>.json and the protocol's pictures")
    parser.add_argument("--tsne", action="store_true", help="also draw a t-SNE of the test features (with --out)")
    parser.set_defaults(func=run)
