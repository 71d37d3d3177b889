"""photonormals train: train a model on the synthetic engine; resumes from its last checkpoint."""

from pathlib import Path

from ..device import DEVICES, TRAINING_PRECISIONS
from ..errors import UserError
from ..models.registry import TASKS, list_models, model_spec
from ..training import RUNS_DIR

DEFAULT_FACES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "ict_facekit.npz"
)


def add_parser(commands):
    parser = commands.add_parser(
        "train", help="train a model (resumes from runs/MODEL/last.safetensors)"
    )
    models = "; ".join(f"{', '.join(list_models(task))} ({task.name})" for task in TASKS)
    parser.add_argument("--model", required=True, help=f"a registered model: {models}")
    parser.add_argument(
        "--steps", type=int, default=20000, help="total steps, counting resumed ones"
    )
    parser.add_argument("--minutes", type=float, help="stop after this many minutes (checkpointed)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--images", default="2-32", metavar="K or KMIN-KMAX", help="images per sample"
    )
    parser.add_argument("--crop", type=int, default=64, help="training crop size in pixels")
    parser.add_argument(
        "--zoom",
        type=float,
        metavar="X",
        help="multi-light models: half the crops magnified 1..X times past the bank's scale "
        "(default 1: none; inference's coarse pass handles large objects)",
    )
    parser.add_argument(
        "--light-rigs",
        type=float,
        metavar="P",
        help="multi-light models: the share of samples whose lights all come from one rig (within "
        "12-55 deg of an axis near the view, as a hand-held lamp or a ring light) instead of "
        "the whole hemisphere (default 0.5)",
    )
    parser.add_argument(
        "--intensity-range",
        metavar="LOW-HIGH",
        help="multi-light models: each light's per-channel intensity is uniform in this range "
        "(default 0.2-2.0, the seed's setting; 1-2 for its comparison)",
    )
    parser.add_argument(
        "--stratified-intensities",
        action="store_true",
        help="multi-light models: every set's intensities spread over the range, two lights in "
        "each of K/2 equal intervals (the seed's section 7 variant)",
    )
    parser.add_argument(
        "--linear-codes",
        type=float,
        metavar="P",
        help="multi-light models: the share of samples saved as linear 8-bit codes and read as "
        "sRGB, as photometric-stereo data sets (DiLiGenT, psm_uw) are when their encoding is "
        "not given (default 0)",
    )
    parser.add_argument("--size", type=int,
                        help="portrait models: training crop size = inference working resolution "
                             "(default: the resumed run's, else 256); material models: training "
                             "crop size (default 128)")
    parser.add_argument(
        "--normal-loss",
        choices=("angular", "cosine"),
        default="angular",
        help="portrait models: the angle between normals, or 1 - cos (the first runs' loss)",
    )
    parser.add_argument(
        "--body-share",
        type=float,
        metavar="P",
        help="portrait models: the share of batches cut from whole upper bodies (torso, arms, "
        "hands) instead of face-framed heads (default 0)",
    )
    parser.add_argument(
        "--face-weight",
        type=float,
        default=2.0,
        help="portrait models: extra normal-loss weight on the face (0: the whole person alike)",
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--threads", type=int, help="CPU threads for torch (default: torch's choice)"
    )
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument(
        "--precision",
        choices=TRAINING_PRECISIONS,
        default="auto",
        help="the forward pass in bf16 autocast or fp32; auto: bf16 on a GPU or a CPU with bf16 "
        "hardware (AMX, AVX512-BF16), else fp32",
    )
    parser.add_argument(
        "--bank-size",
        type=int,
        help="cached geometry samples (default: the trainer's, 1200 shapes or 4000 portraits)",
    )
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES,
                        help="ICT-FaceKit npz for face shapes (skipped if missing)")
    parser.add_argument("--run-dir", type=Path, default=RUNS_DIR,
                        help="checkpoints and logs (outside the work tree, so they survive it)")
    parser.add_argument("--init", type=Path, metavar="FILE",
                        help="warm start from shipped weights when no checkpoint exists yet")
    parser.add_argument(
        "--light-size",
        type=int,
        metavar="PX",
        help="model override: resolution of the light branch (default: the model's)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="after training, write shipped weights (safetensors) here")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.model not in list_models():
        raise UserError(f"unknown model {args.model!r}; choose from {', '.join(list_models())}")
    task = model_spec(args.model).task
    if task not in TASKS:
        raise UserError(f"{args.model} is a helper model: train it with "
                        f"python -m {task.trainer}")
    trainer = task.load_trainer()  # the model's task names its trainer
    config = trainer.config_from_args(args, **_common(args))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = trainer.train(config)
    print(f"{args.model}: step {result['step']}, checkpoint {result['checkpoint']}")
    if args.export:
        trainer.export(Path(result["checkpoint"]), args.export)
        print(f"exported weights to {args.export}")
    return 0


def _common(args) -> dict:
    """The options every trainer takes."""
    return dict(
        model=args.model, steps=args.steps, minutes=args.minutes, batch=args.batch, lr=args.lr,
        device=args.device, precision=args.precision, seed=args.seed,
        **({"bank_size": args.bank_size} if args.bank_size else {}),
        faces=str(args.faces) if args.faces and args.faces.is_file() else None,
        run_dir=str(args.run_dir), init=str(args.init) if args.init else None,
    )

