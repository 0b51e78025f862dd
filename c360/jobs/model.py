"""spark-submit entry point: build the star and marts for --run-date, each table gated by quality."""

from __future__ import annotations

from c360.jobs._common import parser, run_job
from c360.pipeline import RunContext, model_step, model_summary


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__ or "").parse_args(argv)

    def body(ctx: RunContext) -> str:
        report = ctx.step("model", args.run_date, lambda: model_step(ctx, [args.run_date]), model_summary)
        return f"model {args.run_date}: {model_summary(report)}"

    run_job(args, body)


if __name__ == "__main__":
    main()
