#!/usr/bin/env bash
# Fetch the third-party binaries the integration tests use, once, into a cache directory (ignored by git):
#   promtool          from Debian bookworm's `prometheus` package (checks and unit-tests the alert rules)
#   victoria-metrics  from Debian 13 (trixie)'s `victoria-metrics` package (bookworm's 1.79 has no OTLP)
#   tinyproxy         from Debian bookworm's `tinyproxy-bin` package (the forward proxy of the proxy tests)
#   zabbix-7.0        zabbix-server-pgsql and zabbix-frontend-php 7.0 from bookworm-backports, with the two
#                     libevent libraries 7.0 needs beyond 6.0's, and zabbix-6.0 from bookworm: each only when
#                     the installed server is not that version (tests/integration/test_zabbix.py runs both,
#                     the installed one from the system); their other libraries are the installed server's:
#                     run after `make zabbix-packages`
# Nothing is installed and the system's apt sources are untouched: `apt-get download` (trixie and
# bookworm-backports through private apt directories) and `dpkg-deb -x` into the cache. A stamp file per tool
# makes later calls free.
# Exit status is 0 even when a tool cannot be fetched: the tests that need it then skip with a loud message.
set -uo pipefail
CACHE="${EXALATE_TOOLS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.cache/tools}"
mkdir -p "$CACHE"
log() { echo "fetch-tools: $*" >&2; }

extract() {  # extract DEB_GLOB DEST
    local deb
    deb=$(ls $1 2>/dev/null | head -n1)
    [ -n "$deb" ] || return 1
    rm -rf "$2" && mkdir -p "$2" && dpkg-deb -x "$deb" "$2"
}

fetch_promtool() {
    [ -f "$CACHE/promtool.stamp" ] && return 0
    local work="$CACHE/prometheus-deb"
    mkdir -p "$work"
    (cd "$work" && apt-get download prometheus >/dev/null 2>&1) \
        || { apt-get -o DPkg::Lock::Timeout=900 update >/dev/null 2>&1 && (cd "$work" && apt-get download prometheus >/dev/null 2>&1); } \
        || { log "could not download Debian's prometheus package (promtool)"; return 1; }
    extract "$work/prometheus_*.deb" "$CACHE/prometheus" || { log "could not unpack prometheus"; return 1; }
    "$CACHE/prometheus/usr/bin/promtool" --version >/dev/null 2>&1 || { log "promtool does not run"; return 1; }
    rm -f "$work"/*.deb
    touch "$CACHE/promtool.stamp"
}

# private_apt DIR SOURCES_LINE...: an apt directory of its own (lists, cache, empty status) in DIR, its options in
# the array `opts`, its package lists read. The system's sources, lists and status are neither read nor changed.
private_apt() {
    local apt="$1"; shift
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d" "$apt/work"
    printf '%s\n' "$@" > "$apt/etc/sources.list"
    : > "$apt/status"
    opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::Etc::Preferences=$apt/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
          -o "Dir::State::Lists=$apt/lists" -o "Dir::State::Status=$apt/status"
          -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives" -o "APT::Get::List-Cleanup=0")
    apt-get "${opts[@]}" update >/dev/null 2>&1
}

fetch_victoria_metrics() {
    [ -f "$CACHE/victoria-metrics.stamp" ] && return 0
    local apt="$CACHE/apt-trixie" keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] && keyring=/usr/share/keyrings/debian-archive-trixie-stable.gpg
    local opts
    private_apt "$apt" "deb [signed-by=$keyring] http://deb.debian.org/debian trixie main" \
        || { log "could not read the Debian 13 (trixie) package lists"; return 1; }
    (cd "$apt/work" && apt-get "${opts[@]}" download victoria-metrics >/dev/null 2>&1) \
        || { log "could not download Debian 13's victoria-metrics package"; return 1; }
    extract "$apt/work/victoria-metrics_*.deb" "$CACHE/victoria-metrics" || { log "could not unpack victoria-metrics"; return 1; }
    "$CACHE/victoria-metrics/usr/bin/victoria-metrics" -version >/dev/null 2>&1 || { log "victoria-metrics does not run"; return 1; }
    rm -rf "$apt/work"/*.deb "$apt/lists"
    touch "$CACHE/victoria-metrics.stamp"
}

fetch_tinyproxy() {
    [ -f "$CACHE/tinyproxy.stamp" ] && return 0
    local work="$CACHE/tinyproxy-deb"
    mkdir -p "$work"
    (cd "$work" && apt-get download tinyproxy-bin >/dev/null 2>&1) \
        || { apt-get -o DPkg::Lock::Timeout=900 update >/dev/null 2>&1 && (cd "$work" && apt-get download tinyproxy-bin >/dev/null 2>&1); } \
        || { log "could not download Debian's tinyproxy-bin package"; return 1; }
    extract "$work/tinyproxy-bin_*.deb" "$CACHE/tinyproxy" || { log "could not unpack tinyproxy"; return 1; }
    "$CACHE/tinyproxy/usr/bin/tinyproxy" -v >/dev/null 2>&1 || { log "tinyproxy does not run"; return 1; }
    rm -f "$work"/*.deb
    touch "$CACHE/tinyproxy.stamp"
}

# The installed Zabbix server's series (6.0, 7.0, ...), empty when none.
installed_zabbix() {
    /usr/sbin/zabbix_server -V 2>/dev/null | sed -n 's/.*(Zabbix) \([0-9]*\.[0-9]*\)\..*/\1/p' | head -n1
}

# fetch_zabbix SERIES SUITE: Zabbix SERIES' server and frontend from Debian SUITE into zabbix-SERIES, unless the
# installed server is that series (then the tests use it); EXALATE_ZABBIX_UNPACK="6.0 7.0" unpacks those anyway.
fetch_zabbix() {
    local series="$1" suite="$2"
    [ -f "$CACHE/zabbix-$series.stamp" ] && return 0
    case " ${EXALATE_ZABBIX_UNPACK:-} " in
        *" $series "*) ;;
        *) [ "$(installed_zabbix)" = "$series" ] && return 0 ;;
    esac
    local apt="$CACHE/apt-$suite" dest="$CACHE/zabbix-$series" keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    local opts sources=("deb [signed-by=$keyring] http://deb.debian.org/debian bookworm main")
    [ "$suite" = bookworm ] || sources+=("deb [signed-by=$keyring] http://deb.debian.org/debian $suite main")
    private_apt "$apt" "${sources[@]}" || { log "could not read the $suite package lists (Zabbix $series)"; return 1; }
    (cd "$apt/work" && apt-get "${opts[@]}" download "zabbix-server-pgsql/$suite" "zabbix-frontend-php/$suite" \
        libevent-extra-2.1-7 libevent-pthreads-2.1-7 >/dev/null 2>&1) \
        || { log "could not download Zabbix $series from $suite"; return 1; }
    rm -rf "$dest" && mkdir -p "$dest"
    local deb
    for deb in "$apt"/work/*.deb; do dpkg-deb -x "$deb" "$dest" || { log "could not unpack $deb"; return 1; }; done
    local libs
    libs=$(dirname "$(ls "$dest"/usr/lib/*/libevent_extra-2.1.so.7 | head -n1)")
    LD_LIBRARY_PATH="$libs" "$dest/usr/sbin/zabbix_server" -V 2>&1 | grep -q "(Zabbix) ${series//./\\.}\." \
        || { log "Zabbix $series's server does not run here (missing libraries? \`make zabbix-packages\` installs 6.0's)"; return 1; }
    rm -rf "$apt/work"/*.deb "$apt/lists"
    touch "$CACHE/zabbix-$series.stamp"
}

fetch_promtool
fetch_victoria_metrics
fetch_tinyproxy
fetch_zabbix 7.0 bookworm-backports
fetch_zabbix 6.0 bookworm
exit 0
