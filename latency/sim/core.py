"""Cycle-approximate simulation of bare-metal / user-mode ARM programs, and host measurement.

Method (cortex-m7, cortex-a53)
------------------------------
1. The program runs under QEMU (``qemu-system-arm -M mps2-an500`` with semihosting for the M7,
   ``qemu-aarch64 -cpu cortex-a53`` for the A53) with deploy's TCG plugin
   (``deploy/targets/common/mico_icount_plugin.c`` with ``out=``), which counts how often every
   translation block (TB: a straight run of guest instructions ending at a branch) executes, in
   total and per *region* (code between two marker instructions: Thumb ``mov r11, r11``,
   AArch64 ``orr x28, x28, x28``). Programs are built exactly as deploy builds them (same
   compiler flags, same cached kernel objects, deploy's Cortex-M7 startup and linker script).
2. Every distinct block (by its instruction bytes) is disassembled with ``llvm-mc`` and priced
   by ``llvm-mca`` with the target's scheduling model (Cortex-M7: in-order dual issue;
   Cortex-A53: in-order dual issue) as the steady-state cycles per execution of the block
   repeated 100 times. Prices are cached on disk by content hash.
3. cycles = sum over blocks of executions x price. A block QEMU cut at a guest page boundary (1 KiB
   pages on the M-profile, 4 KiB in user mode; a Thumb-2 instruction crossing the boundary becomes
   a block of its own) is priced together with the blocks it falls through into (`priced_units`),
   so the cycles of a loop do not depend on where the linker placed it; and the instruction bytes
   QEMU's translator appends near a page end are cut off (`_insn_bytes`).

Known limits (cycle-*approximate*): no memory system (caches, TCM vs. flash wait states, bus
contention: every load hits the scheduling model's latency), no branch prediction or pipeline
refill on taken branches, no interaction between consecutive blocks, instructions llvm-mca
cannot parse are priced at 1 cycle (counted in ``unpriced_insns``). Calls (BL / BLX, BLR) are priced
as the plain branches they are to the pipeline: llvm-mca 14 does not model them and charges each
100 cycles, which made every out-of-line function look about 100 cycles a call dearer than inlined
code (up to a tenth of a layer's cycles). A few instructions around
each region boundary are attributed to the wrong side. The result is deterministic: same ELF,
same arguments -> same cycles; simulations are cached on disk (key: ELF hash, target, args,
pricing version).

Host: wall-clock (median of repeats) plus callgrind instruction counts of a deployed model;
see `latency.wholemodel.measure_host`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mico.cache import default_cache_dir

# v2: page-split translation blocks priced as one unit; v3: calls priced as branches (_calls_as_branches)
PRICER_VERSION = "mca-rthru100-v3"
MCA_ITERATIONS = 100


class SimError(RuntimeError):
    """Building, running or pricing a program failed."""


class SimulationTimeout(SimError):
    """The emulated program ran longer than the time limit."""


@dataclass(frozen=True)
class Target:
    name: str
    triple: str  # llvm triple for llvm-mc / llvm-mca ("" for host)
    mcpu: str
    clock_hz: float
    description: str
    marker: str  # inline asm of the region marker

    @property
    def emulated(self) -> bool:
        return bool(self.triple)

    @property
    def deploy_target(self):
        """deploy's build description of this target (compiler, flags, startup, linker script)."""
        from deploy.targets import get_target as deploy_target

        return deploy_target(self.name)

    @property
    def cc(self) -> str:
        return self.deploy_target.cc

    @property
    def cflags(self) -> tuple[str, ...]:
        from deploy.targets import COMMON_CFLAGS

        return tuple(f for f in COMMON_CFLAGS if not f.startswith("-W")) + self.deploy_target.cflags


TARGETS: dict[str, Target] = {
    "cortex-m7": Target("cortex-m7", "thumbv7em-none-eabihf", "cortex-m7", 216e6,
                        "STM32F746-class Cortex-M7 at 216 MHz (QEMU mps2-an500, semihosting)", "mov r11, r11"),
    "cortex-a53": Target("cortex-a53", "aarch64", "cortex-a53", 1.2e9,
                         "Raspberry-Pi-3-class Cortex-A53 at 1.2 GHz (qemu-aarch64 user mode)", "orr x28, x28, x28"),
    "host": Target("host", "", "", 0.0, "this x86-64 machine", ""),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def cache_root() -> Path:
    d = Path(os.environ.get("MICO_LATENCY_CACHE", default_cache_dir() / "latency"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


def tool_version(cmd: str) -> str:
    """First line of ``cmd --version`` (provenance)."""
    try:
        out = subprocess.run([cmd, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return lines[0].strip() if lines else "unknown"


# ---------------------------------------------------------------------------------- plugin
def plugin_path() -> Path:
    """deploy's QEMU plugin (built once per source hash); ``out=<file>`` turns on block profiles."""
    from deploy.toolchain import ToolchainError, icount_plugin

    try:
        return icount_plugin()
    except ToolchainError as e:
        raise SimError(f"building the QEMU plugin failed: {e}") from e


def plugin_source() -> Path:
    from deploy.toolchain import TARGET_DIR

    return TARGET_DIR / "common" / "mico_icount_plugin.c"


# ---------------------------------------------------------------------------------- build
def build_elf(
    sources: Sequence[str | os.PathLike],
    target: str | Target,
    out: str | os.PathLike,
    *,
    include_dirs: Sequence[str | os.PathLike] = (),
    defines: Sequence[str] = (),
    extra_flags: Sequence[str] = (),
    with_kernels: bool = False,
) -> Path:
    """Compile ``sources`` for ``target`` and link them as deploy links a model: deploy's flags,
    startup code and linker script (Cortex-M7), and with ``with_kernels`` deploy's cached kernel
    objects (`deploy.targets.kernel_objects`), so profiled kernels are the deployed machine code."""
    from deploy.targets import TARGET_DIR, kernel_objects
    from deploy.toolchain import KERNEL_DIR, ToolchainError

    t = get_target(target) if isinstance(target, str) else target
    if shutil.which(t.cc) is None:
        raise SimError(f"compiler {t.cc} for target {t.name} not found; install the Debian packages (see DESIGN.md)")
    dt = t.deploy_target
    extra_src = [str(TARGET_DIR / s) for s in dt.extra_sources]
    objs: list[str] = []
    if with_kernels:
        try:
            objs = [str(o) for o in kernel_objects(dt)]
        except ToolchainError as e:
            raise SimError(str(e)) from e
        include_dirs = [*include_dirs, KERNEL_DIR]
    ld = [a.replace("{targets}", str(TARGET_DIR)) for a in dt.ldflags]
    cmd = [t.cc, *t.cflags, *extra_flags]
    cmd += [f"-I{d}" for d in include_dirs] + [f"-D{d}" for d in defines]
    cmd += [str(s) for s in sources] + extra_src + objs + ld + ["-o", str(out), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SimError(f"build for {t.name} failed ({' '.join(cmd)}):\n{r.stderr[-4000:]}")
    return Path(out)


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SimResult:
    target: str
    cycles: float  # sum over regions (whole run when the program has no markers)
    instructions: int
    region_cycles: tuple[float, ...]
    region_instructions: tuple[int, ...]
    whole_instructions: int
    n_blocks: int
    unpriced_insns: int
    stdout: str
    returncode: int
    cached: bool = False
    meta: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


# ---------------------------------------------------------------------------------- pricing
class BlockPricer:
    """Cycles per execution of a basic block (instruction bytes, hex), via llvm-mc + llvm-mca.

    Prices are cached in a JSON file per (target, pricing version); keys are content hashes.
    """

    def __init__(self, target: Target):
        if not target.emulated:
            raise ValueError(f"target {target.name} is not priced by llvm-mca")
        self.t = target
        self.path = cache_root() / f"prices-{target.name}-{PRICER_VERSION}.json"
        self.prices: dict[str, list[float]] = {}
        if self.path.exists():
            try:
                self.prices = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                self.prices = {}
        self._dirty = False

    @staticmethod
    def key(hexblock: str) -> str:
        return hashlib.sha1(hexblock.encode()).hexdigest()

    def save(self) -> None:
        if not self._dirty:
            return
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.prices))
        tmp.replace(self.path)
        self._dirty = False

    def price(self, blocks: Sequence[str]) -> dict[str, tuple[float, int]]:
        """hex block -> (cycles per execution, number of instructions priced at a default)."""
        todo = sorted({b for b in blocks if self.key(b) not in self.prices})
        for i in range(0, len(todo), 1500):
            chunk = todo[i : i + 1500]
            texts = [self._disassemble(b) for b in chunk]
            res = self._mca([t for t, _ in texts])
            for b, (_, bad), (cyc, bad2) in zip(chunk, texts, res):
                self.prices[self.key(b)] = [cyc, bad + bad2]
            self._dirty = True
        self.save()
        return {b: tuple(self.prices[self.key(b)]) for b in blocks}  # type: ignore[misc]

    def _llvm_mc(self, data: bytes) -> list[tuple[str, bytes]]:
        r = subprocess.run(
            ["llvm-mc", "--disassemble", f"-triple={self.t.triple}", f"-mcpu={self.t.mcpu}", "-show-encoding"],
            input=" ".join(f"0x{x:02x}" for x in data),
            capture_output=True,
            text=True,
        )
        out = []
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(.*?)\s*(?:@|//) encoding: \[([^\]]*)\]", line)
            if m:
                enc = bytes(int(x, 16) for x in m.group(2).split(",") if x.strip())
                out.append((m.group(1).replace("\t", " "), enc))
        return out

    def _disassemble(self, hexblock: str) -> tuple[list[str], int]:
        insns = [bytes.fromhex(x) for x in hexblock.split(":")]
        dec = self._llvm_mc(b"".join(insns))
        if [e for _, e in dec] == insns:
            return [t for t, _ in dec], 0
        # misaligned (an encoding llvm-mc rejects): decode instruction by instruction
        texts, bad = [], 0
        for ins in insns:
            d = self._llvm_mc(ins)
            if len(d) == 1 and d[0][1] == ins:
                texts.append(d[0][0])
            else:
                texts.append("nop")
                bad += 1
        return texts, bad

    @staticmethod
    def _strip_it(block: list[str]) -> list[str]:
        """llvm-mca rejects Thumb IT: drop it and price its conditional instructions unconditionally."""
        out: list[str] = []
        pending = 0
        for ins in block:
            mn, _, rest = ins.partition(" ")
            if re.fullmatch(r"it[te]{0,3}", mn):
                pending = len(mn) - 1
                continue
            if pending:
                pending -= 1
                base, dot, suf = mn.partition(".")
                m = re.fullmatch(r"(.+?)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)", base)
                if m:
                    mn = m.group(1) + dot + suf
                ins = f"{mn} {rest}".strip()
            out.append(ins)
        return out or ["nop"]

    @staticmethod
    def _calls_as_branches(block: list[str]) -> list[str]:
        """llvm-mca charges a call 100 cycles ("call instructions are not correctly modeled"): price
        BL / BLX / BLR as the direct / indirect branch B / BX / BR (the return is already priced as a
        branch)."""
        out = []
        for ins in block:
            mn, _, rest = ins.partition(" ")
            if mn == "bl":
                ins = f"b {rest}"
            elif mn == "blx":
                ins = f"{'b' if rest.lstrip().startswith('#') else 'bx'} {rest}"
            elif mn == "blr":
                ins = f"br {rest}"
            out.append(ins)
        return out

    def _mca(self, blocks: list[list[str]]) -> list[tuple[float, int]]:
        blocks = [self._calls_as_branches(b) for b in blocks]
        if self.t.triple.startswith("thumb"):
            blocks = [self._strip_it(b) for b in blocks]
        lines: list[str] = []
        for i, b in enumerate(blocks):
            lines.append(f"# LLVM-MCA-BEGIN b{i}")
            lines.extend(b)
            lines.append("# LLVM-MCA-END")
        bad = [0] * len(blocks)
        owner = {}
        i_blk = -1
        for n, ln in enumerate(lines):
            if ln.startswith("# LLVM-MCA-BEGIN"):
                i_blk += 1
            elif not ln.startswith("#"):
                owner[n] = i_blk
        with tempfile.TemporaryDirectory() as td:
            src = Path(td) / "blocks.s"
            for _attempt in range(200):
                src.write_text("\n".join(lines) + "\n")
                r = subprocess.run(
                    ["llvm-mca", f"-mtriple={self.t.triple}", f"-mcpu={self.t.mcpu}",
                     f"-iterations={MCA_ITERATIONS}", "-all-views=false", "-summary-view", str(src)],
                    capture_output=True,
                    text=True,
                )
                if r.returncode == 0:
                    break
                errs = [int(m.group(1)) - 1 for m in re.finditer(r"blocks\.s:(\d+):\d+: error", r.stderr)]
                for m in re.finditer(r"note: instruction:\s*(.+)", r.stderr):
                    txt = m.group(1).strip()
                    errs += [n for n, ln in enumerate(lines) if ln.strip().replace("\t", " ") == txt.replace("\t", " ")]
                errs = sorted({e for e in errs if e in owner and lines[e] != "nop"})
                if not errs:
                    raise SimError(f"llvm-mca failed:\n{r.stderr[-2000:]}")
                for e in errs:
                    lines[e] = "nop"
                    bad[owner[e]] += 1
            else:
                raise SimError("llvm-mca: too many unparsable instructions")
        cycles: list[float] = []
        it = None
        for ln in r.stdout.splitlines():
            if ln.startswith("Iterations:"):
                it = float(ln.split()[1])
            elif ln.startswith("Total Cycles:"):
                cycles.append(float(ln.split()[2]) / (it or MCA_ITERATIONS))
        if len(cycles) != len(blocks):
            raise SimError(f"llvm-mca priced {len(cycles)} regions, expected {len(blocks)}")
        return list(zip(cycles, bad))


# ---------------------------------------------------------------------------------- running
def _insn_bytes(hexinsn: str, thumb: bool) -> str:
    """One instruction's bytes as the plugin reports them, cut to the instruction's own length.

    QEMU 7.2 hands a plugin every byte the translator loaded while translating an instruction. Near
    the end of a guest page the Thumb translator also loads the first half-word of the *next*
    instruction (to see whether it would cross the page), so that half-word is appended to the
    current one (e.g. ``smlad`` + 2 bytes): llvm-mc then cannot decode it and it used to be priced
    as a ``nop``. The length follows from the encoding: Thumb-2 32-bit instructions start with a
    half-word whose top five bits are 0b11101, 0b11110 or 0b11111; A64 instructions are 4 bytes.
    """
    raw = bytes.fromhex(hexinsn)
    if thumb:
        n = 4 if len(raw) >= 2 and (raw[1] >> 3) in (0b11101, 0b11110, 0b11111) else 2
    else:
        n = 4
    return raw[:n].hex() if len(raw) > n else hexinsn


def _parse_tb(text: str, thumb: bool = False):
    blocks: dict[int, tuple[int, int, int, str]] = {}
    regions: dict[int, dict[int, int]] = {}
    for ln in text.splitlines():
        if ln.startswith("B "):
            _, i, va, n, c, hx = ln.split(" ", 5)
            hx = ":".join(_insn_bytes(x, thumb) for x in hx.strip().split(":"))
            blocks[int(i)] = (int(va, 16), int(n), int(c), hx)
        elif ln.startswith("R "):
            _, r, i, c = ln.split()
            regions.setdefault(int(r), {})[int(i)] = int(c)
    return blocks, regions


def _block_end(block: tuple[int, int, int, str]) -> int:
    return block[0] + len(block[3].replace(":", "")) // 2


def priced_units(blocks: dict[int, tuple[int, int, int, str]], counts: dict[int, int],
                 page: int) -> list[tuple[tuple[int, ...], int]]:
    """The units a region is priced in: (block ids, executions), chaining page-split blocks.

    QEMU ends a translation block at a guest page boundary (1 KiB on the M-profile, 4 KiB in
    user mode), and a Thumb-2 instruction that would cross it becomes a block of its own. A loop
    body that straddles a boundary thus runs as two or three blocks, and pricing each one
    alone in steady state lost the dual issue across the cut and the loop's overlap: the same
    layer simulated 12 % slower when the linker happened to place its inner loop across a
    boundary (measured on the small CNN's second conv). Real cores have no such boundary, so a
    block that ends within 2 bytes of a page boundary is chained with the block that starts where
    it ends, and the chain is priced as one block for as many executions as all its members share
    (the rest of each member is priced alone).
    """
    by_start: dict[int, list[int]] = {}
    for i in counts:
        by_start.setdefault(blocks[i][0], []).append(i)
    left = dict(counts)
    units: list[tuple[tuple[int, ...], int]] = []
    for i in sorted(counts, key=lambda k: (blocks[k][0], k)):
        while left[i] > 0:
            chain, m, j = [i], left[i], i
            while True:
                end = _block_end(blocks[j])
                boundary = (end + 2) // page * page  # the page boundary at most 2 bytes before / after the end
                if abs(end - boundary) > 2 or blocks[j][0] >= boundary:
                    break
                nxt = [k for k in by_start.get(end, ()) if left[k] > 0 and k not in chain]
                if not nxt:
                    break
                j = max(nxt, key=lambda k: left[k])
                chain.append(j)
                m = min(m, left[j])
            for k in chain:
                left[k] -= m
            units.append((tuple(chain), m))
    return units


def _run_cmd(t: Target, elf: Path, out: Path, args: Sequence[str]) -> list[str]:
    plug = f"{plugin_path()},out={out}"
    if t.name == "cortex-m7":
        cmd = ["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
        if args:
            cmd += ["-append", " ".join(args)]
        return cmd + ["-plugin", plug, "-d", "plugin"]
    return ["qemu-aarch64", "-cpu", "cortex-a53", "-plugin", plug, "-d", "plugin", str(elf), *args]


def simulate(
    elf: str | os.PathLike,
    target: str,
    args: Sequence[str] = (),
    *,
    timeout: float = 120.0,
    use_cache: bool = True,
    cwd: str | os.PathLike | None = None,
    cache_extra: str = "",
    keep_blocks: bool = False,
) -> SimResult:
    """Cycle-approximate run of ``elf`` on ``target`` (cortex-m7 or cortex-a53); see module doc."""
    t = get_target(target)
    if not t.emulated:
        raise ValueError("target 'host' is measured, not simulated: use latency.sim.measure_host")
    elf = Path(elf)
    if not elf.exists():
        raise SimError(f"ELF {elf} not found")
    key = _sha(elf.read_bytes(), str(keep_blocks), t.name, json.dumps(list(args)), PRICER_VERSION,
               plugin_source().read_bytes(), cache_extra)[:32]
    cfile = cache_root() / "sims" / f"{key}.json"
    if use_cache and cfile.exists():
        d = json.loads(cfile.read_text())
        d["cached"] = True
        d["region_cycles"] = tuple(d["region_cycles"])
        d["region_instructions"] = tuple(d["region_instructions"])
        return SimResult(**d)
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "tb.txt"
        cmd = _run_cmd(t, elf, out, args)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired as e:
            raise SimulationTimeout(
                f"simulation of {elf.name} on {t.name} exceeded {timeout:g} s (raise timeout= or shrink the workload)"
            ) from e
        if r.returncode != 0:
            raise SimError(f"{elf.name} on {t.name} exited with code {r.returncode}:\n{(r.stdout + r.stderr)[-2000:]}")
        if not out.exists():
            raise SimError(f"the QEMU plugin wrote no output for {elf.name}; stderr:\n{r.stderr[-2000:]}")
        blocks, regions = _parse_tb(out.read_text(), thumb=t.triple.startswith("thumb"))
    page = 1024 if t.name == "cortex-m7" else 4096  # QEMU's guest page: M-profile system mode / user mode
    region_counts = [regions[k] for k in sorted(regions)] if regions else [{i: b[2] for i, b in blocks.items()}]
    region_units = [priced_units(blocks, c, page) for c in region_counts]
    unit_hex = {u: ":".join(blocks[i][3] for i in u) for units in region_units for u, _ in units}
    pricer = BlockPricer(t)
    prices = pricer.price(sorted(set(unit_hex.values())))

    def tally(units: list[tuple[tuple[int, ...], int]]) -> tuple[float, int, int]:
        cyc, ins, bad = 0.0, 0, 0
        for u, c in units:
            p, nbad = prices[unit_hex[u]]
            cyc += c * p
            ins += c * sum(blocks[i][1] for i in u)
            bad += c * nbad
        return cyc, ins, bad

    whole_ins = sum(b[1] * b[2] for b in blocks.values())
    tallies = [tally(units) for units in region_units]
    res = SimResult(
        target=t.name,
        cycles=float(sum(x[0] for x in tallies)),
        instructions=int(sum(x[1] for x in tallies)),
        region_cycles=tuple(float(x[0]) for x in tallies),
        region_instructions=tuple(int(x[1]) for x in tallies),
        whole_instructions=int(whole_ins),
        n_blocks=len({i for c in region_counts for i in c}),
        unpriced_insns=int(sum(x[2] for x in tallies)),
        stdout=r.stdout,
        returncode=r.returncode,
        meta={"regions": len(regions), "elf_sha": key},
    )
    if keep_blocks:  # per-block cycles inside the regions (whole run without markers): attribution
        acc: dict[int, list[float]] = {}  # a chain's cycles are shared by its blocks by instructions
        for units in region_units:
            for u, c in units:
                n_u = sum(blocks[i][1] for i in u)
                for i in u:
                    a = acc.setdefault(i, [0.0, 0])
                    a[0] += c * prices[unit_hex[u]][0] * blocks[i][1] / n_u
                    a[1] += c * blocks[i][1]
        res.meta["blocks"] = [[blocks[i][0], cyc, ins] for i, (cyc, ins) in acc.items()]
    cfile.parent.mkdir(parents=True, exist_ok=True)
    cfile.write_text(res.to_json())
    return res
