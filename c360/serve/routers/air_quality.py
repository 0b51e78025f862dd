"""Air quality: stations, daily AQI per station, and the AQI calculator for posted records."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from c360.access import AIR_QUALITY, Principal
from c360.aqi.standards import BUILTIN
from c360.serve.aggregate import lit, run
from c360.serve.deps import AuditDep, EngineDep, GenerationDep, SettingsDep, StrictQueryRoute, check_range, scope
from c360.serve.models import AqiCounts, AqiRequest, AqiResponse, Rows
from c360.serve.state import AQI_DAILY, STATIONS

router = APIRouter(tags=[AIR_QUALITY], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(AIR_QUALITY))]


@router.get("/v1/air-quality/stations", response_model=Rows, summary="Monitoring stations (latest snapshot)")
def stations(caller: Caller, gen: GenerationDep, engine: EngineDep, audit: AuditDep) -> Rows:
    sql = (
        f'SELECT * FROM "{STATIONS}" WHERE snapshot_date = (SELECT max(snapshot_date) FROM "{STATIONS}") '
        "ORDER BY station_id"
    )
    return run(engine, gen, caller, audit, sql)


@router.get(
    "/v1/air-quality/stations/{station_id}/daily", response_model=Rows, summary="Daily AQI of a station over dates"
)
def station_daily(
    caller: Caller,
    gen: GenerationDep,
    engine: EngineDep,
    audit: AuditDep,
    station_id: Annotated[str, Path(min_length=1, max_length=64)],
    start: Annotated[date | None, Query(alias="from", description="first local date")] = None,
    end: Annotated[date | None, Query(alias="to", description="last local date")] = None,
) -> Rows:
    check_range(start, end)
    conditions = [f"station_id = {lit(station_id)}"]
    if start is not None:
        conditions.append(f'"date" >= {lit(start)}')
    if end is not None:
        conditions.append(f'"date" <= {lit(end)}')
    sql = (
        'SELECT "date", station_id, aqi, category, dominant_pollutant, pm25_24h_index, pm10_24h_index, '
        "o3_8h_index, o3_1h_index, co_8h_index, so2_1h_index, so2_24h_index, no2_1h_index "
        f'FROM "{AQI_DAILY}" WHERE {" AND ".join(conditions)} ORDER BY "date"'
    )
    rows = run(engine, gen, caller, audit, sql)
    if not rows.rows and STATIONS in gen.snapshot.tables:
        # No rows: a station without readings in the range, or no such station (a 404, as an
        # unknown customer is), told apart by the stations the same generation knows.
        known = engine.query(
            f'SELECT 1 AS known FROM "{STATIONS}" WHERE station_id = {lit(station_id)} LIMIT 1',
            role=caller.role,
            snapshot=gen.snapshot,
        )
        if known.rows == 0:
            raise LookupError(f"no station {station_id!r}")
    return rows


@router.post("/v1/aqi", response_model=AqiResponse, summary="AQI of posted readings (same calculator as c360 aqi)")
def compute_aqi(body: AqiRequest, caller: Caller, audit: AuditDep, settings: SettingsDep) -> AqiResponse:
    """Each record gets its result fields (aqi, category, dominant_pollutant, sub_indices, errors,
    status); a bad record gets its errors in its own result, never a failed request."""
    from c360.aqi import calculate

    if body.standard not in BUILTIN:
        raise HTTPException(400, f"unknown standard {body.standard!r}; built in: {', '.join(BUILTIN)}")
    if len(body.records) > settings.serve_aqi_max_records:
        raise HTTPException(400, f"at most {settings.serve_aqi_max_records} records per request")
    # One chunk: computed in this process, no worker pool per request.
    result = calculate(body.records, body.standard, workers=1, chunk_size=len(body.records))
    records = list(result)
    audit.rows = len(records)
    c = result.counts
    return AqiResponse(
        standard=body.standard, counts=AqiCounts(ok=c.ok, invalid=c.invalid, failed=c.failed), results=records
    )
