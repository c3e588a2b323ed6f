#!/usr/bin/env bash
# Device check (issue 20): the smoke suite of every track on the GPU and on the CPU, compared; needs
# `make gpu-bundle` here, then on a GPU machine: bash benchmarks/gpu_check.sh (carry .gpu-bundle).
# Writes to $OUT: env.txt, run.log, smi-*.csv, compare.tsv, results.tgz. Knobs: DEV SUITE TR SEEDS J TGPU TCPU
# (SEEDS: 1 for smoke, the suite's own otherwise).
S=${S:-/tmp/kb-site}; W=${W:-/tmp/kb-check}; O=${OUT:-$W/out}; P=${PY:-python3}; DEV=${DEV:-cuda}
TR=${TR:-igr weightreg imbalance tokenization fewshot embdim vae dialogue}
mkdir -p "$S" "$W" "$O" && tar -xJf .gpu-bundle/site.tar.xz -C "$S" || { echo "no bundle: make gpu-bundle"; exit 3; }
export PYTHONPATH=$PWD:$S PYTHONUNBUFFERED=1 KEXUE_BENCH_CACHE=$W/cache TOKENIZERS_PARALLELISM=false
{ $P -c "import sys,torch,transformers as t;print(sys.version.split()[0],torch.__version__,'cuda',torch.version.cuda,torch.cuda.is_available(),t.__version__)"
  nvidia-smi; nproc; } >"$O/env.txt" 2>&1
T=; for t in $TR; do T="$T --track $t"; done; SD=${SEEDS-$([ "${SUITE:-smoke}" = smoke ] && echo 1)}
run() { # $1 device, $2 results name, $3 seconds
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader -l 1 >"$O/smi-$2.csv" 2>/dev/null & M=$!
  s=$SECONDS; timeout "$3" $P -m harness.cli run --suite "${SUITE:-smoke}" $T ${SD:+--seeds $SD} \
    --device "$1" -q --results "$W/r-$2" ${J:+-j $J} ${PREC:+--precision $PREC}
  echo "$2 on $1: rc=$? wall $((SECONDS - s)) s"; kill $M 2>/dev/null
}
{ run "$DEV" gpu "${TGPU:-240}"; [ "${TCPU:-200}" -gt 0 ] && run cpu cpu "${TCPU:-200}"; } >>"$O/run.log" 2>&1
rc=0; [ -d "$W/r-cpu" ] && { $P benchmarks/gpu_compare.py "$W/r-cpu" "$W/r-gpu" >"$O/compare.tsv" 2>&1 || rc=$?; }
tar czf "$O/results.tgz" -C "$W" $(cd "$W" && ls -d r-*) 2>/dev/null
cat "$O/run.log"; grep -v $'\tyes\t' "$O/compare.tsv" 2>/dev/null | head -60; exit $rc
