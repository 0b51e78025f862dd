"""spark-submit entry point: sanitize what the raw tier received for --run-date."""

from __future__ import annotations

from c360.jobs._common import add_sources, parser, run_job
from c360.pipeline import RunContext, sanitize_step, sanitize_summary


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    add_sources(p)
    args = p.parse_args(argv)

    def body(ctx: RunContext) -> str:
        report = ctx.step(
            "sanitize", args.run_date, lambda: sanitize_step(ctx, [args.run_date], args.sources), sanitize_summary
        )
        return f"sanitize {args.run_date}: {sanitize_summary(report)}"

    run_job(args, body)


if __name__ == "__main__":
    main()
