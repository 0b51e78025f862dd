"""spark-submit entry point: publish the air-quality star for --run-date (facts for the local day before)."""

from __future__ import annotations

from c360.jobs._common import parser, run_job
from c360.pipeline import RunContext, air_quality_step, air_quality_summary


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__ or "").parse_args(argv)

    def body(ctx: RunContext) -> str:
        report = ctx.step(
            "air_quality", args.run_date, lambda: air_quality_step(ctx, [args.run_date]), air_quality_summary
        )
        return f"air-quality {args.run_date}: {air_quality_summary(report)}"

    run_job(args, body)


if __name__ == "__main__":
    main()
