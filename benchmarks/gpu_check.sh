#!/usr/bin/env bash
# Device check (issues 20 and 28): the smoke suite of every track on the GPU, as single cells (--group off)
# and as cell groups (--group on), and on the CPU as single cells, compared; needs `make gpu-bundle` here,
# then on a GPU machine: bash benchmarks/gpu_check.sh (carry .gpu-bundle).
# Writes to $OUT: env.txt, run.log (wall per run and their ratios), smi-*.csv, compare.tsv (CPU vs GPU single),
# compare-grouped.tsv (CPU vs GPU grouped), grouped-vs-single.tsv (the two GPU runs), results.tgz.
# Knobs: DEV SUITE TR SEEDS J TGPU TCPU GROUP_RUNS (the GPU's --group runs: "off on"; "off" alone is issue 20's
# check) (SEEDS: 1 for smoke, the suite's own otherwise). DRY=1: every run is --dry-run (cells, groups and
# estimates only; without a bundle it uses $PY's own packages), nothing is compared.
S=${S:-/tmp/kb-site}; W=${W:-/tmp/kb-check}; O=${OUT:-$W/out}; P=${PY:-python3}; DEV=${DEV:-cuda}
TR=${TR:-igr weightreg imbalance tokenization fewshot embdim vae dialogue}; GROUP_RUNS=${GROUP_RUNS:-off on}
mkdir -p "$S" "$W" "$O"
if [ -f .gpu-bundle/site.tar.xz ]; then tar -xJf .gpu-bundle/site.tar.xz -C "$S" || exit 3
elif [ -z "$DRY" ]; then echo "no bundle: make gpu-bundle"; exit 3; fi
export PYTHONPATH=$PWD:$S PYTHONUNBUFFERED=1 KEXUE_BENCH_CACHE=$W/cache TOKENIZERS_PARALLELISM=false
{ $P -c "import sys,torch,transformers as t;print(sys.version.split()[0],torch.__version__,'cuda',torch.version.cuda,torch.cuda.is_available(),t.__version__)"
  nvidia-smi; nproc; } >"$O/env.txt" 2>&1
T=; for t in $TR; do T="$T --track $t"; done; SD=${SEEDS-$([ "${SUITE:-smoke}" = smoke ] && echo 1)}
declare -A WALL
run() { # $1 device, $2 results name, $3 seconds, $4 --group
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader -l 1 >"$O/smi-$2.csv" 2>/dev/null & M=$!
  s=$SECONDS; timeout "$3" $P -m harness.cli run --suite "${SUITE:-smoke}" $T ${SD:+--seeds $SD} --group "$4" \
    --device "$1" -q --results "$W/r-$2" ${J:+-j $J} ${PREC:+--precision $PREC} ${DRY:+--dry-run}
  echo "$2 on $1 (--group $4): rc=$? wall $((SECONDS - s)) s"; WALL[$2]=$((SECONDS - s)); kill $M 2>/dev/null
}
{ for g in $GROUP_RUNS; do n=gpu; [ "$g" = off ] || n=gpu-grouped; run "$DEV" $n "${TGPU:-240}" "$g"; done
  [ "${TCPU:-200}" -gt 0 ] && run cpu cpu "${TCPU:-200}" off
  ratio() { [ -n "${WALL[$1]}" ] && [ -n "${WALL[$2]}" ] && awk -v a="${WALL[$1]}" -v b="${WALL[$2]}" -v t="$3" \
    'BEGIN { if (b > 0) printf "wall %s: %.2fx\n", t, a / b }'; }
  [ -z "$DRY" ] && { ratio gpu gpu-grouped "GPU single / GPU grouped"; ratio cpu gpu-grouped "CPU / GPU grouped"
    ratio cpu gpu "CPU / GPU single"; }
} >>"$O/run.log" 2>&1
[ -n "$DRY" ] && { cat "$O/run.log"; exit 0; }
rc=0; C=benchmarks/gpu_compare.py
cmp() { [ -d "$W/r-$2" ] && [ -d "$W/r-$3" ] && { $P $C ${4:+--names $4} "$W/r-$2" "$W/r-$3" >"$O/$1" 2>&1 || rc=1; }; }
cmp compare.tsv cpu gpu; cmp compare-grouped.tsv cpu gpu-grouped; cmp grouped-vs-single.tsv gpu gpu-grouped single,grouped
tar czf "$O/results.tgz" -C "$W" $(cd "$W" && ls -d r-*) 2>/dev/null
cat "$O/run.log"; for f in compare.tsv compare-grouped.tsv grouped-vs-single.tsv; do
  [ -f "$O/$f" ] && { echo "== $f"; grep -v $'\tyes\t' "$O/$f" | head -60; }; done; exit $rc
