"""The one place a SparkSession is built (from settings, never at import)."""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from c360.settings import Settings


LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# A class archive that does not fit this JVM (another Java, another classpath, such as a
# cluster worker's executors) is then skipped without a word, as if there were none.
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"
# Up to this many paths in one read, Spark lists them on the driver rather than with a job
# (spark_conf). A table past it wants compaction (``c360 table compact``) more than a faster listing.
LIST_ON_DRIVER_MAX_PATHS = 100_000
LISTING_THRESHOLD = "spark.sql.sources.parallelPartitionDiscovery.threshold"
SPARK_LISTING_DEFAULT = 32  # Spark's own value of LISTING_THRESHOLD (the benchmarks compare it)
# Hadoop's shipped defaults for services c360 never talks to: YARN, MapReduce's job history,
# task runtime and shuffle, the service registry, ZooKeeper, HA failover, Hadoop RPC and its web
# servers. They are 728 of the Hadoop configuration's 1,103 properties, and Spark serializes
# that whole configuration into every file scan of every query (a broadcast its tasks
# deserialize) and into every write task: on a day's small queries, a fixed cost per job
# (docs/benchmarks.md, "Small jobs and the size of Hadoop's configuration"). Not dropped under YARN.
UNUSED_HADOOP_DEFAULTS = (
    "yarn", "mapreduce.jobhistory", "mapreduce.map", "mapreduce.reduce", "mapreduce.shuffle",
    "hadoop.registry", "hadoop.zk", "hadoop.http", "ha", "ipc",
)  # fmt: skip
# Their names, as a regular expression that Java's and Python's regular expressions read alike.
UNUSED_HADOOP_PATTERN = "^(" + "|".join(re.escape(p) for p in UNUSED_HADOOP_DEFAULTS) + r")\."
# Outside whole-stage code, Spark compiles a Java class (Janino, then the JIT) for each new
# projection, predicate and ordering of every query: tens of milliseconds each, hundreds of
# them in a step, whatever its rows. Its interpreted versions of the same expressions (those
# it falls back to when a compile fails) skip that and cost more per row instead. A step that
# reads fewer rows than ``Settings.codegen_min_rows`` runs them interpreted
# (``codegen_for_rows``); whole-stage code is compiled either way.
CODEGEN_FACTORY_MODE = "spark.sql.codegen.factoryMode"  # internal to Spark: FALLBACK (its default) or NO_CODEGEN
# Spark broadcasts the smaller side of a join when its estimate is under this size: a Spark job
# of its own for every such join (collect the side, build its hash table, ship it), which on a
# small step's few rows costs more than sorting both sides in the query's own stages. A step
# whose tables hold fewer rows than ``Settings.broadcast_min_rows`` joins without it
# (``joins_for_rows``); explicit ``broadcast`` hints still broadcast.
BROADCAST_THRESHOLD = "spark.sql.autoBroadcastJoinThreshold"
# Of a sort-merge join with a side Spark estimates as huge (a checkpoint keeps its plan's
# estimate, and joins are estimated as the product of their sides), Spark filters that side by
# a Bloom filter of the other side's keys: a Spark job of its own to build each filter, and the
# filter (1 MiB at its default size) shipped in every task that applies it. A small step's few
# rows gain nothing from it; ``joins_for_rows`` turns it off with the broadcasts
# (docs/benchmarks.md, "A small day's fixed costs").
RUNTIME_BLOOM_FILTER = "spark.sql.optimizer.runtime.bloomFilter.enabled"
# A new JVM spends most of a small run's CPU JIT-compiling Spark itself: HotSpot compiles hot
# methods with C1 first and again, optimised, with C2. A JVM c360 starts for a run that reads
# fewer rows than ``Settings.c2_jit_min_rows`` compiles with C1 only (``get_spark``). C1 alone
# reserves 48 MB for compiled code where tiered compilation reserves 240 MB, and a day's Spark
# code fills 48 MB: HotSpot then stops compiling for good ("CodeCache is full"), so the cache
# keeps tiered compilation's size.
C1_ONLY_JIT = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
# A larger run keeps C2, whose code pays for itself over a year's rows, but asks it later.
# HotSpot hands a method to C2 after 5,000 calls (15,000 calls and loop turns together), or a
# loop after 40,000 turns (on-stack replacement), and Spark generates a class per whole-stage
# plan whose row loop reaches that within one task: a year's sanitize compiled 1,021 of them,
# 1-2.5 s of C2 each. Ten times the thresholds leave C2 the code that keeps running: the
# 1M-order-line history's sanitize took 215-225 s against 237-259 s, with 403-421 busy
# core-seconds against 454-493, its last day's model step 89-92 s against 98-99 s and its
# sanitize 34-36 s against 37-39 s, its history's model step the same (docs/benchmarks.md,
# "C2 asked later").
LATE_C2_JIT = (
    "-XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=6000 "
    "-XX:Tier4CompileThreshold=150000 -XX:Tier4BackEdgeThreshold=400000"
)
# On these machines HotSpot collects garbage with G1, which marks the old generation in
# concurrent threads while the run goes on; a run's cached and checkpointed frames keep it
# marking. A batch run does not mind the parallel collector's pauses, and it spends less CPU:
# on the 1M-order-line history its sanitize took 188-191 s with it against 218-221 s with G1,
# its model step 119-120 s against 136 s (docs/benchmarks.md, "The parallel collector"). A
# collector chosen in the user's options wins: a JVM refuses two (``gc_options``).
THROUGHPUT_GC = "-XX:+UseParallelGC"
_GC_CHOICE = re.compile(r"-XX:\+Use(Serial|Parallel|ParallelOld|G1|Z|Shenandoah|Epsilon)GC\b")
# Hadoop's local file system sets the permission of every folder and file a Spark write creates
# by starting a ``chmod`` process (pyspark ships no Hadoop native library): about 4 ms each,
# 11,045 of them in a year's sanitize. c360's subclass (c360/jvm/LocalFileSystem.java, built
# into a jar by ``make venv``) sets the same modes with a system call. Spark uses it for
# ``file:`` paths when the jar is on the JVMs' class path (``local_fs_conf``). The jar holds
# every class of c360/jvm: HADOOP_DEFAULTS_CLASS as well (``drop_unused_hadoop_defaults``).
LOCAL_FS_CLASS = "c360.hadoop.LocalFileSystem"
HADOOP_DEFAULTS_CLASS = "c360.hadoop.HadoopDefaults"
JVM_SOURCES = sorted((Path(__file__).parent / "jvm").glob("*.java"))
LOCAL_FS_IMPL = "spark.hadoop.fs.file.impl"


def class_archive() -> Path | None:
    """Where ``make venv`` dumps the JVM class archive of Spark's driver: in the virtual
    environment, because it belongs to that environment's pyspark jars and to this Java.
    ``C360_SPARK_CLASS_ARCHIVE`` names another file, or ``off`` for none."""
    chosen = os.environ.get("C360_SPARK_CLASS_ARCHIVE")
    if chosen == "off":
        return None
    return Path(chosen) if chosen else Path(sys.prefix) / "share" / "c360" / "spark-classes.jsa"


def local_fs_jar() -> Path | None:
    """Where ``make venv`` builds the jar of ``LOCAL_FS_CLASS``: in the virtual environment,
    next to the class archive. ``C360_SPARK_LOCAL_FS_JAR`` names another file, or ``off`` for
    none (Spark then uses Hadoop's own local file system)."""
    chosen = os.environ.get("C360_SPARK_LOCAL_FS_JAR")
    if chosen == "off":
        return None
    return Path(chosen) if chosen else Path(sys.prefix) / "share" / "c360" / "c360-hadoop.jar"


def local_fs_conf(jar: Path | None = None) -> dict[str, str]:
    """The settings that put the jar on the driver's and executors' class paths and make
    ``LOCAL_FS_CLASS`` Spark's file system for ``file:`` paths; none when there is no jar.
    On a cluster the jar must be at the same path on every node, like the virtual environment
    (docs/cluster.md)."""
    jar = local_fs_jar() if jar is None else jar
    if jar is None or not jar.is_file():
        return {}
    return {
        "spark.driver.extraClassPath": str(jar),
        "spark.executor.extraClassPath": str(jar),
        LOCAL_FS_IMPL: LOCAL_FS_CLASS,
    }


def local_fs_submit_options(jar: Path | None = None) -> list[str]:
    """``spark-submit`` options that put the jar on the driver's and executors' class paths
    (the session then chooses ``LOCAL_FS_CLASS``); none when there is no jar."""
    conf = local_fs_conf(jar)
    if not conf:
        return []
    return ["--driver-class-path", conf["spark.driver.extraClassPath"],
            "--conf", f"spark.executor.extraClassPath={conf['spark.executor.extraClassPath']}"]  # fmt: skip


def build_local_fs_jar(target: Path) -> Path:
    """Compile ``JVM_SOURCES`` against pyspark's jars and write the jar to
    ``target`` (replaced only once complete). Needs ``javac`` (a JDK, not only a JRE)."""
    import shutil
    import tempfile
    import zipfile

    import pyspark

    javac = shutil.which("javac")
    if javac is None:
        raise RuntimeError("javac not found: a JDK is needed to build c360's jar (Hadoop file system, AQI kernel)")
    jars = Path(pyspark.__file__).parent / "jars"
    if not any(jars.glob("hadoop-client-api-*.jar")):
        raise RuntimeError("pyspark's jars hold no hadoop-client-api jar to compile against")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="c360-jar-", dir=target.parent) as tmp:
        classes = Path(tmp) / "classes"
        cmd = [javac, "--release", "17", "-nowarn", "-cp", str(jars / "*"), "-d", str(classes), *map(str, JVM_SOURCES)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"javac failed:\n{done.stderr[-2000:]}")
        jar = Path(tmp) / "c360-hadoop.jar"
        with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: c360\n\n")
            for f in sorted(classes.rglob("*.class")):
                out.write(f, f.relative_to(classes).as_posix())
        os.replace(jar, target)
    return target


def class_archive_options(archive: Path | None = None) -> str:
    """JVM options that start the JVM from the class archive (AppCDS), if there is one.

    A cold Spark JVM spends seconds loading and verifying Spark's classes; mapped from the
    archive it starts a third cheaper in CPU (docs/benchmarks.md), which every spark-submit
    of a DAG task and every new session pays."""
    archive = class_archive() if archive is None else archive
    return f"-XX:SharedArchiveFile={archive} {QUIET_CDS}" if archive is not None and archive.is_file() else ""


def gc_options(java_options: str) -> str:
    """The collector c360's JVMs run with (``THROUGHPUT_GC``), unless ``java_options`` (the
    user's) choose one."""
    return "" if _GC_CHOICE.search(java_options) else THROUGHPUT_GC


def spark_conf(settings: Settings, rows: int | None = None) -> dict[str, str]:
    """The session configuration c360 relies on (also used to build spark-submit lines).

    ``rows`` is what the session's work will read, when its starter knows: below
    ``settings.c2_jit_min_rows`` its JVMs compile with C1 only (``C1_ONLY_JIT``), else with C2
    asked later (``LATE_C2_JIT``). They collect garbage with ``THROUGHPUT_GC`` unless the user's
    ``spark_java_options`` choose a collector; those come last, so they win over the rest."""
    c1_only = rows is not None and rows < settings.c2_jit_min_rows
    java_opts = (
        f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{LOG4J_CONFIG} "
        f"{class_archive_options()} {gc_options(settings.spark_java_options)} "
        f"{C1_ONLY_JIT if c1_only else LATE_C2_JIT} {settings.spark_java_options}"
    )
    java_opts = " ".join(java_opts.split())
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.ui.enabled": "true" if settings.spark_ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.spark_driver_memory,
        # Spark's own timestamps in files are UTC micros; keep Parquet legacy rebasing off.
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.sources.partitionOverwriteMode": "static",
        "spark.sql.ansi.enabled": "false",
        # Constraint inference is quadratic in predicate size: over the sanitize plan (a
        # hundred rule expressions, then a self-join) it ran for minutes per table.
        "spark.sql.constraintPropagation.enabled": "false",
        # HotSpot does not JIT-compile a method over 8000 bytes of bytecode. Spark's default
        # limit (64 KB) lets whole-stage codegen emit such methods (the AQI plan's is ~40 KB),
        # and they then run interpreted. At 8000 Spark runs those stages operator by operator
        # with split, compiled code instead (AQI: 17k -> 25k rows/s in one A/B run).
        "spark.sql.codegen.hugeMethodLimit": "8000",
        # PySpark's DataFrame debugging records the Python call site of every DataFrame and
        # function call in the JVM: five more Py4J round trips per call, 10% of a sanitize run
        # over one day of mock data. Errors still name the failing expression.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        # A table is read by naming its live files (from the Delta log). Past 32 paths Spark
        # lists them with a Spark job of one task per path, and every task deserializes the
        # whole Hadoop configuration: opening a table of 90 daily files and counting its rows
        # took 0.98 s that way and 0.38 s listed on the driver, 3.04 and 1.02 s for 365 files
        # (docs/benchmarks.md, "Opening a table").
        LISTING_THRESHOLD: str(LIST_ON_DRIVER_MAX_PATHS),
        "spark.driver.extraJavaOptions": java_opts,
        "spark.executor.extraJavaOptions": java_opts,
        **local_fs_conf(),
    }


def launched_by_spark_submit() -> bool:
    """Whether this Python process was started by spark-submit (which passes its gateway)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def _submitted_with_local_fs() -> bool:
    """Whether the driver's JVM, which spark-submit started with its own class path, loads
    ``LOCAL_FS_CLASS``. Asked before the session exists: its settings decide which file
    system Spark uses. The executors need no such check: the session's settings
    (``local_fs_conf``) put the jar on their class path when they start."""
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    assert SparkContext._jvm is not None
    return _driver_loads(SparkContext._jvm, LOCAL_FS_CLASS)


def _driver_loads(jvm: Any, name: str) -> bool:
    """Whether the driver's JVM loads the class ``name`` (c360's jar is on its class path)."""
    from py4j.protocol import Py4JError

    try:
        jvm.java.lang.Class.forName(name)
    except Py4JError:
        return False
    return True


def get_spark(settings: Settings, rows: int | None = None) -> SparkSession:
    """Build (or reuse) the process's SparkSession configured from ``settings``.

    ``rows``: what the process will read, if known before its JVM starts (``c360 run``
    estimates it from the extracts' bytes and the lake's logs). A JVM started for fewer
    than ``settings.c2_jit_min_rows`` JIT-compiles with C1 only (``C1_ONLY_JIT``). It has
    no effect on a session that already runs, nor under spark-submit, whose JVM is started.

    Under spark-submit the master comes from ``--master`` unless C360_SPARK_MASTER is set
    explicitly: setting the settings' default (``local[*]``) on the builder would override
    the submitted master and run the job on the driver alone.

    Python tasks (ingest reads and parses source files in them) run with ``PYSPARK_PYTHON``
    when it is set; otherwise with this interpreter, not PySpark's default ``python3`` from
    ``PATH``, which outside an activated virtualenv is a Python without pyspark or c360."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(settings.spark_app_name)
    if not launched_by_spark_submit() or "spark_master" in settings.model_fields_set:
        builder = builder.master(settings.spark_master)
    conf = spark_conf(settings, rows)
    if LOCAL_FS_IMPL in conf and launched_by_spark_submit() and not _submitted_with_local_fs():
        # A spark-submit line without the jar (the README's plain lines): Hadoop's own local
        # file system, not a class the driver cannot load.
        del conf[LOCAL_FS_IMPL]
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if "PYSPARK_PYTHON" not in os.environ:
        spark.sparkContext.pythonExec = sys.executable
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    drop_unused_hadoop_defaults(spark)
    remember_jvm_lookups()
    handle_interrupts(spark)
    return spark


# Set once the process's Spark session has had a Ctrl-C (SIGINT): an error that follows it, such
# as a Spark job failing as cancelled, is the interrupt's consequence (the CLI reports the interrupt).
INTERRUPTED = threading.Event()
INTERRUPT_CANCEL_S = 0.25  # how often Spark's jobs are cancelled while an interrupt waits to be raised
JVM_EXIT_TIMEOUT_S = 5.0  # a kernel's JVM, its standard input closed, ends within it or is killed


def handle_interrupts(spark: SparkSession) -> None:
    """Replace PySpark's SIGINT handler with c360's (in the main thread; Python allows no other).

    PySpark's handler cancels every Spark job over Py4J from inside the handler, then raises
    KeyboardInterrupt wherever the main thread is. Interrupted at different moments, ``c360
    run`` (2026-12-06, docs/tiers.md) showed what that does:

    - inside a Py4J call, the handler's own call went over that thread's connection, which was
      waiting for the first call's answer: the answers crossed (a Py4J traceback), and the first
      answer, left unread, was what the thread's next Py4J call read (the run ended with a
      "job cancelled" error and exit code 1, not as interrupted);
    - inside a finalizer (a Py4J object's weak-reference callback), Python ignores the
      exception: the run went on to its end, exit code 0;
    - inside PySpark between two calls that must go together (a collect's request and the
      read of its answer), PySpark waited for ever for an answer that would never come.

    c360's handler raises KeyboardInterrupt only where the main thread is in neither Py4J nor
    PySpark (nor a ``__del__``). Elsewhere the interrupt waits: a thread cancels Spark's jobs
    (over its own connection) every ``INTERRUPT_CANCEL_S`` until it is raised, so the call
    returns soon, and the main thread's profile hook has it raised at the next line of the
    code the call returns to (by a trace function on that frame; Python then drops the thread's
    trace function, so a debugger's or coverage's is not given back after such an interrupt).
    ``INTERRUPTED`` says an interrupt came.
    """
    import signal

    if threading.current_thread() is threading.main_thread():
        handler = _Interrupts(spark.sparkContext).handler
        signal.signal(signal.SIGINT, handler)
        _keep_in_kernel(handler)


def _keep_in_kernel(handler: Any) -> None:
    """In a Jupyter kernel (ipykernel), the handler for every cell from now on.

    ipykernel installs Python's default handler before each request and puts its own back
    after, so a notebook's Ctrl-C (Jupyter's interrupt) raised KeyboardInterrupt inside the
    Py4J call and cancelled nothing: a cell interrupted 4 s into a 25 s Spark job returned at
    once, and the next cell's first Spark call waited 21 s for the old job's answer."""
    import signal

    from c360.jupyter import at_kernel_shutdown, running_kernel

    kernel = running_kernel()
    if kernel is None or not hasattr(kernel, "pre_handler_hook"):
        return

    def pre_handler_hook() -> None:
        kernel.saved_sigint_handler = signal.signal(signal.SIGINT, handler)

    kernel.pre_handler_hook = pre_handler_hook
    at_kernel_shutdown(_end_kernel_spark)


def _end_kernel_spark() -> None:
    """Stop a kernel's Spark session and end its JVM, waiting for it (``at_kernel_shutdown``).

    PySpark's JVM ends when its standard input closes, after Spark's shutdown has removed its
    temporary folders."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        stop_spark(SparkSession.getActiveSession() or SparkSession.builder.getOrCreate(), exiting=True)
    process = getattr(SparkContext._gateway, "proc", None)  # None when the JVM was not ours to start
    if process is not None and process.poll() is None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=JVM_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Interrupts:
    """The SIGINT handler of one Spark context (``handle_interrupts``)."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.waiting = threading.Event()  # an interrupt came and is not raised yet
        self.raised = threading.Event()
        self.hooks: tuple[Any, Any] = (None, None)  # the main thread's profile and trace functions before

    def handler(self, signum: int, frame: Any) -> None:
        INTERRUPTED.set()
        if not _inside_spark(frame):
            self._raise()
        if not self.waiting.is_set():
            self.waiting.set()
            self.raised.clear()
            self.hooks = (sys.getprofile(), sys.gettrace())
            sys.setprofile(self._on_return)  # the handler runs in the main thread: its hook
            threading.Thread(target=self._cancel_while_waiting, name="c360-interrupt", daemon=True).start()

    def _on_return(self, frame: Any, event: str, arg: object) -> None:
        """Profile hook of the main thread while an interrupt waits: once a call returns (or
        raises) into code outside Py4J and PySpark, the interrupt is raised at that code's next
        line (a trace function's exception; a finalizer or a weak reference's callback that
        returns there gets none, which Python would ignore)."""
        caller = frame.f_back
        if event == "return" and caller is not None and not _inside_spark(caller):
            sys.settrace(_no_trace)  # line events only in the caller, whose trace raises
            caller.f_trace_lines = True
            caller.f_trace = self._raise_here

    def _raise_here(self, frame: Any, event: str, arg: object) -> None:
        """A caller's trace function: raises the waiting interrupt at its next event (a line,
        its return, or an exception the call raised into it); once raised, traces nothing."""
        if self.waiting.is_set():
            self._raise()

    def _raise(self) -> NoReturn:
        if self.waiting.is_set():
            sys.setprofile(self.hooks[0])
            sys.settrace(self.hooks[1])
            self.waiting.clear()
            self.raised.set()
        raise KeyboardInterrupt

    def _cancel_while_waiting(self) -> None:
        while True:
            try:
                self.context.cancelAllJobs()
            except Exception:  # noqa: BLE001 - a stopped context has no jobs left to cancel
                logging.getLogger(__name__).debug("cancelling Spark's jobs after an interrupt failed", exc_info=True)
                return
            if self.raised.wait(INTERRUPT_CANCEL_S):
                return


def _no_trace(frame: Any, event: str, arg: object) -> None:
    """The global trace function while an interrupt waits for its line: new frames untraced."""


def _inside_spark(frame: Any) -> bool:
    """Whether the main thread, at ``frame``, is inside Py4J, PySpark or a ``__del__``, where a
    KeyboardInterrupt would leave a connection out of step, be ignored, or leave PySpark
    waiting for an answer it will not get."""
    folders = _spark_folders()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or code.co_filename.startswith(folders):
            return True
        frame = frame.f_back
    return False


@functools.cache
def _spark_folders() -> tuple[str, ...]:
    import py4j
    import pyspark

    return tuple(str(Path(str(m.__file__)).parent) + os.sep for m in (py4j, pyspark))


def remember_jvm_lookups() -> None:
    """Make the process's JVM view remember the Java packages, classes and static methods it
    has resolved, instead of asking the JVM again on every use.

    Py4J resolves each step of a name with a round trip: PySpark's ``F.col("a")`` asks for the
    class ``org.apache.spark.sql.functions``, then for its member ``col``, then calls it. A
    mock_data day in a new process made 11,305 such lookups of that class alone, 2.2 s, and
    15,219 lookups in all, 4.5 s of a 49 s run (docs/benchmarks.md, "Py4J's lookups
    remembered"). A package, a class and a static method stay what they are for the JVM's
    life, so each is asked for once; a static field's value is still read every time. (So a
    ``java_import`` after a simple name was first used does not change what that name means;
    PySpark imports its names when the gateway starts, and c360 imports none.)"""
    from pyspark import SparkContext

    view = SparkContext._jvm
    if view is None or isinstance(view, _remembering_classes()[0]):
        return
    view.__class__ = _remembering_classes()[0]


@functools.cache
def _remembering_classes() -> tuple[type, type, type]:
    """The JVM view, package and class types of ``remember_jvm_lookups`` (built on first use:
    importing this module does not import py4j)."""
    from py4j.java_gateway import JavaClass, JavaMember, JavaPackage, JVMView

    def remembered(owner: object, name: str, found: object) -> object:
        if isinstance(found, JavaClass):
            found.__class__ = RememberingClass
        elif isinstance(found, JavaPackage):
            found.__class__ = RememberingPackage
        elif not isinstance(found, JavaMember):
            return found  # a static field's value: read again next time
        owner.__dict__[name] = found  # found without __getattr__ from now on
        return found

    class RememberingView(JVMView):  # type: ignore[misc]
        def __getattr__(self, name: str) -> object:
            return remembered(self, name, JVMView.__getattr__(self, name))

    class RememberingPackage(JavaPackage):  # type: ignore[misc]
        def __getattr__(self, name: str) -> object:
            return remembered(self, name, JavaPackage.__getattr__(self, name))

    class RememberingClass(JavaClass):  # type: ignore[misc]
        def __getattr__(self, name: str) -> object:
            return remembered(self, name, JavaClass.__getattr__(self, name))

    return RememberingView, RememberingPackage, RememberingClass


def stop_spark(spark: SparkSession, *, exiting: bool = False) -> None:
    """``spark.stop()``, without the second it spends waiting for PySpark's accumulator server.

    ``SparkContext.stop`` shuts that server down and waits for it, and the server's handler
    looks for the shutdown once a second (``poll(1000)`` in ``pyspark.accumulators``): 0.84-0.92
    s of every stop measured here, after the JVM's own stop had returned in 0.05-0.14 s. The
    server is shut down in a thread of its own instead, which ends within that second (or with
    the process). ``exiting``: the process ends next (the CLI, a spark-submit job); the objects
    alive now are then left out of the interpreter's last garbage collections, which went
    through the half million objects a run leaves (0.8 s) to free what the process's end frees
    anyway (docs/benchmarks.md, "The end of a run's process").
    """
    import gc
    import threading

    context = spark.sparkContext
    if INTERRUPTED.is_set():
        # The interrupt cancelled the jobs, whose tasks end a moment later: stopped before, the
        # executor logged each one's failure to find the stopped environment, a stack trace
        # under the CLI's "interrupted".
        context.setLogLevel("OFF")
    server = getattr(context, "_accumulatorServer", None)
    if server is not None:
        context._accumulatorServer = None  # type: ignore[assignment]  # stop() would wait for it
        threading.Thread(target=server.shutdown, name="c360-accumulator-stop", daemon=True).start()
    spark.stop()
    if exiting:
        gc.freeze()


def drop_unused_hadoop_defaults(spark: SparkSession) -> int:
    """Remove ``UNUSED_HADOOP_DEFAULTS`` from the session's Hadoop configuration, which every
    query's Hadoop configuration is copied from; returns how many properties went.

    Only values that come from Hadoop's ``*-default.xml`` files go: a property set on purpose
    (``spark.hadoop.*``, a ``*-site.xml``) stays, whatever its name. Nothing goes under YARN."""
    if (spark.sparkContext.master or "").startswith("yarn"):
        return 0
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # noqa: S101 - a live session has its gateway
    # Hadoop reads its default files again whenever a class registers one more, which would
    # bring the dropped values back. HDFS's classes register theirs on first use (Spark's
    # writes use them even on a local file system), so they register here, first.
    jvm.org.apache.hadoop.hdfs.HdfsConfiguration.init()
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    if _driver_loads(jvm, HADOOP_DEFAULTS_CLASS):
        # The same in the JVM, one call: ``_drop_over_py4j`` sends five Py4J commands a property.
        return int(jvm.c360.hadoop.HadoopDefaults.dropUnused(conf, UNUSED_HADOOP_PATTERN))
    return _drop_over_py4j(jvm, conf)


def _drop_over_py4j(jvm: Any, conf: Any) -> int:
    """``drop_unused_hadoop_defaults``'s work from Python, when the driver has no c360 jar."""
    names = str(jvm.java.lang.String.join("\n", conf.getValByRegex(UNUSED_HADOOP_PATTERN).keySet())).split("\n")
    dropped = 0
    for name in filter(None, names):
        sources = conf.getPropertySources(name)
        if sources is not None and all(str(s).endswith("-default.xml") for s in sources):
            conf.unset(name)
            dropped += 1
    return dropped


def warm_up(spark: SparkSession) -> threading.Thread:
    """Start a tiny query of the shapes the steps run (a window, an aggregate, a join, a local
    checkpoint, rows back as Arrow) in a background thread, and return the thread.

    A new process's first queries pay the JVM's class loading and first compilations. Started
    before ingest, which reads and commits a day without Spark, the query pays them while the
    JVM would otherwise wait. Its result is dropped and a failure only logged: it is never
    part of a run's outcome."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def run() -> None:
        try:
            df = spark.range(64).select((F.col("id") % 4).alias("k"), F.col("id").cast("string").alias("v"))
            first = df.withColumn("r", F.row_number().over(Window.partitionBy("k").orderBy(F.col("v").desc())))
            counts = df.groupBy("k").agg(F.count(F.lit(1)).alias("n"), F.max("v").alias("m"))
            first.filter("r = 1").join(counts, "k", "left").localCheckpoint().toArrow()
        except Exception:  # noqa: BLE001 - a warm-up never fails a run
            logging.getLogger(__name__).debug("warm-up query failed", exc_info=True)

    thread = threading.Thread(target=run, name="c360-warm-up", daemon=True)
    thread.start()
    return thread


@contextmanager
def codegen_for_rows(spark: SparkSession, rows: int, min_rows: int) -> Iterator[bool]:
    """Run the block's queries with Spark's expressions compiled when they read at least
    ``min_rows`` rows (``Settings.codegen_min_rows``), interpreted below it; yields whether
    they are compiled.

    The session's setting is restored afterwards. Results are the same either way: the
    interpreted expressions are Spark's own fallback for code that fails to compile.
    Spark documents the setting (``spark.sql.codegen.factoryMode``) as internal, so the
    tests check that it still takes effect (tests/test_spark_codegen.py)."""
    compiled = rows >= min_rows
    before = spark.conf.get(CODEGEN_FACTORY_MODE, "FALLBACK") or "FALLBACK"  # no error if Spark drops the setting
    spark.conf.set(CODEGEN_FACTORY_MODE, "FALLBACK" if compiled else "NO_CODEGEN")
    try:
        yield compiled
    finally:
        spark.conf.set(CODEGEN_FACTORY_MODE, before)


@contextmanager
def joins_for_rows(spark: SparkSession, rows: int, min_rows: int) -> Iterator[bool]:
    """Run the block's joins as Spark chooses (a small side broadcast) when the tables it
    reads hold at least ``min_rows`` rows (``Settings.broadcast_min_rows``), by sort-merge
    without broadcasts or runtime Bloom filters (``RUNTIME_BLOOM_FILTER``) below it; yields
    whether Spark may broadcast.

    ``rows`` must count every table the block joins, not only its new rows: a day's few rows
    joined with a long history would otherwise shuffle the whole history. The session's
    settings are restored afterwards; results are the same either way."""
    broadcast = rows >= min_rows
    before = {  # Spark's defaults, should the session have none
        BROADCAST_THRESHOLD: spark.conf.get(BROADCAST_THRESHOLD) or "10MB",
        RUNTIME_BLOOM_FILTER: spark.conf.get(RUNTIME_BLOOM_FILTER) or "true",
    }
    if not broadcast:
        spark.conf.set(BROADCAST_THRESHOLD, "-1")
        spark.conf.set(RUNTIME_BLOOM_FILTER, "false")
    try:
        yield broadcast
    finally:
        for name, value in before.items():
            spark.conf.set(name, value)


def dump_class_archive(target: Path, timeout: float = 300.0) -> Path:
    """Write the class archive to ``target``: a Spark session in a child process runs a few
    typical jobs (a shuffle, a join, Parquet, Python workers), and its JVM dumps every class
    it loaded when it exits. Replaces ``target`` only once the dump is complete."""
    import subprocess
    import tempfile
    import time

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="c360-cds-", dir=target.parent) as tmp:
        dump = Path(tmp) / "spark-classes.jsa"
        # The dumping JVM starts from no archive of its own (a dynamic archive is not layered).
        java = f"-XX:ArchiveClassesAtExit={dump} {QUIET_CDS}"
        env = os.environ | {"C360_SPARK_JAVA_OPTIONS": java, "C360_SPARK_CLASS_ARCHIVE": "off"}
        done = subprocess.run(
            [sys.executable, "-m", "c360.spark", "_workload", tmp], env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the class archive's Spark session failed:\n{done.stderr[-2000:]}")
        jvm = int(done.stdout.split()[-1])  # the archive is written while that JVM exits
        deadline = time.monotonic() + timeout
        while _alive(jvm):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the JVM (pid {jvm}) was still writing its class archive after {timeout:.0f} s")
            time.sleep(0.2)
        if not dump.is_file():
            raise RuntimeError(f"the JVM wrote no class archive at {dump}")
        os.replace(dump, target)
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the number
        return False
    return True


def _workload(folder: Path) -> None:
    """The jobs whose classes the archive holds; prints the JVM's pid last."""
    from pyspark.sql import functions as F

    from c360.settings import Settings

    settings = Settings(lake_root=folder / "lake", spark_ui=False, spark_shuffle_partitions=2, spark_log_level="ERROR")
    spark = get_spark(settings.model_copy(update={"spark_java_options": os.environ["C360_SPARK_JAVA_OPTIONS"]}))
    df = spark.range(20_000).select((F.col("id") % 7).alias("k"), F.col("id").cast("string").alias("v"))
    df.groupBy("k").agg(F.count("v"), F.max("v")).join(df, "k").write.parquet(str(folder / "out"))
    back = spark.read.parquet(str(folder / "out"))
    back.mapInArrow(lambda batches: batches, back.schema).agg(F.count(F.lit(1))).collect()
    back.localCheckpoint().orderBy("k").limit(3).toPandas()
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[union-attr]
    spark.stop()
    print(pid, flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_workload"]:
        _workload(Path(sys.argv[2]))
    else:
        if (jar := local_fs_jar()) is not None:
            try:
                print(f"c360's jar (Hadoop local file system, AQI kernel): {build_local_fs_jar(jar)}")
            except RuntimeError as exc:  # then Hadoop's own file system and the AQI's Python kernel: slower, not wrong
                print(f"note: {exc}; Spark's writes use Hadoop's own local file system, and a Spark frame's AQI "
                      "the Python kernel", file=sys.stderr)  # fmt: skip
        where = Path(sys.argv[1]) if sys.argv[1:] else class_archive()
        if where is None:
            raise SystemExit("C360_SPARK_CLASS_ARCHIVE=off: no class archive to write")
        print(f"JVM class archive: {dump_class_archive(where)}")
