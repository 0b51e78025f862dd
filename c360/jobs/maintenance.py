"""spark-submit entry point: apply the retention policies as of --run-date (delta-rs only)."""

from __future__ import annotations

from c360.jobs._common import parser, run_job
from c360.pipeline import RunContext


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__ or "").parse_args(argv)

    def body(ctx: RunContext) -> str:
        from c360.maintenance import apply_retention
        from c360.serve.exports import prune_exports

        def summary(done: list) -> str:
            rows = sum(t.rows_removed for t in done)
            vacuumed = sum(len(t.files_vacuumed) for t in done)
            compacted = sum(len(t.compacted) for t in done)
            return (
                f"{len(done)} tables: {rows} expired rows removed, {compacted} partitions of small files compacted, "
                f"{vacuumed} old files vacuumed"
            )

        def run() -> list:
            done = apply_retention(ctx.storage.catalog, args.run_date)
            pruned.extend(prune_exports(ctx.storage.catalog, ctx.settings.export_dir))
            return done

        pruned: list[str] = []
        done = ctx.step("maintenance", args.run_date, run, summary)
        return f"maintenance {args.run_date}: {summary(done)}, {len(pruned)} export files of versions no longer kept"

    run_job(args, body)


if __name__ == "__main__":
    main()
