# Sourced by scripts/test, scripts/demo and scripts/bench: fails early, naming what is
# missing, when the machine lacks a tool the scripts run themselves (a new machine
# should learn that in a second, not after twenty minutes of building).
#   require_tools cargo go python3 kubectl
require_tools() {
  local missing=()
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "missing on PATH: ${missing[*]} (README, Development, lists what the scripts need)" >&2
    exit 1
  fi
}
