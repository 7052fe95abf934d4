#!/usr/bin/env bash
# A local Fabric 2.5 network of plain processes on 127.0.0.1 (no Docker):
#   Raft orderer(s), one peer per member of the consortium but donors (the demo's
#   agencies AGENCY-A/B/C and auditor AUDITOR-X; --consortium FILE for another),
#   channel `referrals` created through the channel participation API (no system
#   channel), the contract installed as chaincode-as-a-service (one chaincode server per
#   organisation, mutual TLS), approved by the members and committed.
#
#   FABRIC_HOME=/opt/fabric network/network.sh up [--orderers 3] [--consortium FILE]
#       FILE (or $FABRIC_CONSORTIUM; default network/consortium.toml) names the members,
#       their roles and the endorsement policy; the organisations, MSPs, channel and
#       chaincode policy are made from it (ledger_gw.fabric.netconfig).
#   network/network.sh down        # stops exactly the processes `up` started
#   network/network.sh status
#   network/network.sh deploy NAME PORT_OFFSET -- COMMAND...
#       another chaincode-as-a-service NAME, under the same endorsement policy: COMMAND is
#       started once per organisation (stopped by `down`) with CHAINCODE_SERVER_ADDRESS
#       (127.0.0.1:peer port + PORT_OFFSET), CHAINCODE_ID, CHAINCODE_TLS_{CERT,KEY,CLIENT_CA}
#       and CHAINCODE_CONSORTIUM in its environment; benchmarks use it to run a bare
#       chaincode beside the contract.
#
# FABRIC_HOME is the official release layout: bin/{peer,orderer,configtxgen,osnadmin,
# cryptogen}, builders/ccaas/, config/. State (crypto, ledgers, logs, pids, profile.json
# for the gateway, the ledger workspace) lives in $FABRIC_STATE (default network/.state).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
STATE="${FABRIC_STATE:-$HERE/.state}"
BASE="${FABRIC_PORT_BASE:-27000}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
CHANNEL=referrals
CC_NAME=ledger
CC_VERSION=1.0
CONSORTIUM="${FABRIC_CONSORTIUM:-$HERE/consortium.toml}"
# The members with a peer, the endorsers (AGENCIES) and their policy come from the
# consortium (`up` and `prepare` write them to $STATE/network.env). These are the demo's,
# for docker-compose.yml's setup containers, which see no network.env: any two of the
# three agencies endorse; the auditor's peer holds a full copy to verify, not a vote.
POLICY="OutOf(2,'AGENCY-A.peer','AGENCY-B.peer','AGENCY-C.peer')"
PEER_ORGS=(AGENCY-A AGENCY-B AGENCY-C AUDITOR-X)
AGENCIES=(AGENCY-A AGENCY-B AGENCY-C)
REQUIRED=2
ORDERERS=1
MODE=local   # local: processes on 127.0.0.1; compose: container host names (docker-compose.yml)

log() { printf '\033[1m[network]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

lower() { echo "$1" | tr '[:upper:]' '[:lower:]'; }
org_index() { local i; for i in "${!PEER_ORGS[@]}"; do [[ "${PEER_ORGS[$i]}" == "$1" ]] && echo "$i"; done; }
peer_port() { echo $((BASE + 100 * ($(org_index "$1") + 1))); }        # 27100, 27200 ...
CC_PORT_OFFSET=5
cc_port() { echo $(($(peer_port "$1") + CC_PORT_OFFSET)); }
orderer_port() { echo $((BASE + 50 + 10 * $1)); }                        # 27050, 27060 ...
orderer_admin_port() { echo $(($(orderer_port "$1") + 3)); }
# Where each node is reached: 127.0.0.1 and distinct ports locally, host names in Compose.
peer_addr() { if [[ $MODE == local ]]; then echo "127.0.0.1:$(peer_port "$1")"; else echo "peer0.$(lower "$1").ledger.local:7051"; fi; }
cc_addr() { if [[ $MODE == local ]]; then echo "127.0.0.1:$(cc_port "$1")"; else echo "cc.$(lower "$1").ledger.local:9999"; fi; }
gateway_url() { if [[ $MODE == local ]]; then echo "http://127.0.0.1:$(($(peer_port "$1") + 8))"; else echo "http://gateway.$(lower "$1").ledger.local:8080"; fi; }
orderer_addr() { if [[ $MODE == local ]]; then echo "127.0.0.1:$(orderer_port "$1")"; else echo "orderer$1.orderer.ledger.local:7050"; fi; }
org_path() { echo "$STATE/crypto/peerOrganizations/$(lower "$1").ledger.local"; }
ord_path() { echo "$STATE/crypto/ordererOrganizations/orderer.ledger.local/orderers/orderer$1.orderer.ledger.local"; }
# The contract's packages keep their historical place; another chaincode's sit under its name.
cc_dir() { if [[ $CC_NAME == ledger ]]; then echo "$STATE/chaincode/$1"; else echo "$STATE/chaincode/$CC_NAME/$1"; fi; }
ORDERER_TLS_CA() { echo "$STATE/crypto/ordererOrganizations/orderer.ledger.local/tlsca/tlsca.orderer.ledger.local-cert.pem"; }

start_bg() { # name, then command: runs in its own process group, pid recorded
  local name=$1; shift
  mkdir -p "$STATE/pids" "$STATE/logs"
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/pids/$name.pid"
}

wait_port() { # port, what
  local i
  for i in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  die "$2 did not open port $1 (see $STATE/logs)"
}

check_home() {
  [[ -n "${FABRIC_HOME:-}" ]] || die "FABRIC_HOME is not set (the Fabric 2.5 release directory)"
  local f
  for f in bin/peer bin/orderer bin/configtxgen bin/osnadmin bin/cryptogen builders/ccaas/bin/detect config/core.yaml config/orderer.yaml; do
    [[ -e "$FABRIC_HOME/$f" ]] || die "FABRIC_HOME=$FABRIC_HOME has no $f"
  done
  [[ -x "$PY" ]] || die "no Python at $PY (run make first, or set PYTHON)"
  "$PY" -c 'import ledger_gw.protos' || die "install the fabric extra: pip install -e '.[fabric]'"
}

take_consortium() { # up, prepare: the organisations and policy from $CONSORTIUM, kept
  [[ $CONSORTIUM == *.toml && -f $CONSORTIUM ]] || die "no consortium definition (TOML) at $CONSORTIUM"
  mkdir -p "$STATE/logs"
  cp "$CONSORTIUM" "$STATE/consortium.toml"
  "$PY" -m ledger_gw.fabric.netconfig shell "$STATE/consortium.toml" >"$STATE/network.env" \
    2>"$STATE/logs/netconfig.log" || die "$(cat "$STATE/logs/netconfig.log")"
  load_env
}

load_env() { # the network's own organisations, as `up` or `prepare` took them
  # shellcheck source=/dev/null
  [[ -f "$STATE/network.env" ]] && source "$STATE/network.env"
  return 0
}

peer_env() { # org, admin|peer: environment for the peer binary
  local org=$1 who=$2 dir port
  dir=$(org_path "$org"); port=$(peer_port "$org")
  echo FABRIC_CFG_PATH="$STATE/peers/$org"
  echo CORE_PEER_LOCALMSPID="$org"
  echo CORE_PEER_TLS_ENABLED=true
  echo CORE_PEER_ADDRESS="$(peer_addr "$org")"
  echo CORE_PEER_TLS_ROOTCERT_FILE="$dir/tlsca/tlsca.$(lower "$org").ledger.local-cert.pem"
  if [[ $who == admin ]]; then
    echo CORE_PEER_MSPCONFIGPATH="$dir/users/Admin@$(lower "$org").ledger.local/msp"
  else
    local node="$dir/peers/peer0.$(lower "$org").ledger.local"
    echo CORE_PEER_MSPCONFIGPATH="$node/msp"
    echo CORE_PEER_ID="peer0.$(lower "$org").ledger.local"
    echo CORE_PEER_LISTENADDRESS="127.0.0.1:$port"
    echo CORE_PEER_CHAINCODEADDRESS="127.0.0.1:$((port + 2))"
    echo CORE_PEER_CHAINCODELISTENADDRESS="127.0.0.1:$((port + 2))"
    echo CORE_PEER_GOSSIP_BOOTSTRAP="127.0.0.1:$port"
    echo CORE_PEER_GOSSIP_EXTERNALENDPOINT="127.0.0.1:$port"
    echo CORE_PEER_TLS_CERT_FILE="$node/tls/server.crt"
    echo CORE_PEER_TLS_KEY_FILE="$node/tls/server.key"
    echo CORE_PEER_FILESYSTEMPATH="$STATE/peers/$org/data"
    echo CORE_LEDGER_SNAPSHOTS_ROOTDIR="$STATE/peers/$org/data/snapshots"
    echo CORE_OPERATIONS_LISTENADDRESS="127.0.0.1:$((port + 3))"
    echo CORE_METRICS_PROVIDER=disabled
    echo CORE_CHAINCODE_EXECUTETIMEOUT=30s
    # No per-key history index: nothing reads it (the contract keeps its own records and
    # evidence is read from blocks), and it cost the peers a write for every key written.
    echo CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE=false
  fi
}

as_admin() { local org=$1; shift; env $(peer_env "$org" admin) "$FABRIC_HOME/bin/peer" "$@"; }

orderer_flags() { echo -o "$(orderer_addr 0)" --tls --cafile "$(ORDERER_TLS_CA)"; }

make_config() {
  log "crypto material (cryptogen) and organisation roles"
  mkdir -p "$STATE"
  "$PY" -m ledger_gw.fabric.netconfig crypto "$STATE/consortium.toml" "$STATE/crypto-config.yaml"
  "$FABRIC_HOME/bin/cryptogen" generate --config "$STATE/crypto-config.yaml" --output "$STATE/crypto" >/dev/null
  "$PY" -m ledger_gw.fabric.netsetup roles "$STATE/crypto" "$STATE/consortium.toml"
  "$PY" -m ledger_gw.fabric.netsetup workspace "$STATE/crypto" "$STATE/consortium.toml" "$STATE/workspace"
  # Each agency's witness key, in its own organisation's directory, signs which
  # transactions its own peer found valid; as many as the endorsement policy asks for
  # make a statement hold.
  local witnesses=() org i orderers=() peers=()
  for org in "${AGENCIES[@]}"; do witnesses+=("$org=$(gateway_url "$org")"); done
  "$PY" -m ledger_gw.fabric.netsetup witnesses "$STATE/crypto" "$STATE/workspace" \
    --quorum "$REQUIRED" "${witnesses[@]}"

  for ((i = 0; i < ORDERERS; i++)); do orderers+=(--orderer "$(orderer_addr "$i")"); done
  for org in "${PEER_ORGS[@]}"; do peers+=(--peer "$org=$(peer_addr "$org")"); done
  "$PY" -m ledger_gw.fabric.netconfig configtx "$STATE/consortium.toml" "$STATE" \
    "$STATE/configtx/configtx.yaml" "${orderers[@]}" "${peers[@]}"
  FABRIC_CFG_PATH="$STATE/configtx" "$FABRIC_HOME/bin/configtxgen" -profile Referrals \
    -outputBlock "$STATE/configtx/$CHANNEL.block" -channelID "$CHANNEL" 2>"$STATE/configtx/configtxgen.log" \
    || die "configtxgen failed: $(tail -3 "$STATE/configtx/configtxgen.log")"

  for org in "${PEER_ORGS[@]}"; do
    mkdir -p "$STATE/peers/$org/data"
    # The release core.yaml, pointed at this FABRIC_HOME's ccaas builder, without Docker.
    sed -e "s#path: /opt/hyperledger/ccaas_builder#path: $FABRIC_HOME/builders/ccaas#" \
        -e "s#endpoint: unix:///var/run/docker.sock#endpoint: \"\"#" \
        "$FABRIC_HOME/config/core.yaml" >"$STATE/peers/$org/core.yaml"
  done
}

start_orderers() {
  local i dir port
  for ((i = 0; i < ORDERERS; i++)); do
    dir=$(ord_path "$i"); port=$(orderer_port "$i")
    mkdir -p "$STATE/orderer$i"
    log "orderer$i on 127.0.0.1:$port (admin $(orderer_admin_port "$i"))"
    start_bg "orderer$i" env FABRIC_CFG_PATH="$FABRIC_HOME/config" \
      FABRIC_LOGGING_SPEC=warning \
      ORDERER_GENERAL_LISTENADDRESS=127.0.0.1 ORDERER_GENERAL_LISTENPORT="$port" \
      ORDERER_GENERAL_LOCALMSPID=ORDERER ORDERER_GENERAL_LOCALMSPDIR="$dir/msp" \
      ORDERER_GENERAL_TLS_ENABLED=true ORDERER_GENERAL_TLS_PRIVATEKEY="$dir/tls/server.key" \
      ORDERER_GENERAL_TLS_CERTIFICATE="$dir/tls/server.crt" ORDERER_GENERAL_TLS_ROOTCAS="[$dir/tls/ca.crt]" \
      ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE="$dir/tls/server.crt" \
      ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY="$dir/tls/server.key" \
      ORDERER_GENERAL_CLUSTER_ROOTCAS="[$dir/tls/ca.crt]" \
      ORDERER_GENERAL_BOOTSTRAPMETHOD=none ORDERER_CHANNELPARTICIPATION_ENABLED=true \
      ORDERER_ADMIN_LISTENADDRESS="127.0.0.1:$(orderer_admin_port "$i")" \
      ORDERER_ADMIN_TLS_ENABLED=true ORDERER_ADMIN_TLS_CERTIFICATE="$dir/tls/server.crt" \
      ORDERER_ADMIN_TLS_PRIVATEKEY="$dir/tls/server.key" ORDERER_ADMIN_TLS_ROOTCAS="[$dir/tls/ca.crt]" \
      ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$dir/tls/ca.crt]" \
      ORDERER_OPERATIONS_LISTENADDRESS="127.0.0.1:$((port + 4))" ORDERER_METRICS_PROVIDER=disabled \
      ORDERER_FILELEDGER_LOCATION="$STATE/orderer$i/ledger" \
      ORDERER_CONSENSUS_WALDIR="$STATE/orderer$i/etcdraft/wal" \
      ORDERER_CONSENSUS_SNAPDIR="$STATE/orderer$i/etcdraft/snapshot" \
      "$FABRIC_HOME/bin/orderer"
  done
  for ((i = 0; i < ORDERERS; i++)); do wait_port "$(orderer_admin_port "$i")" "orderer$i"; done
  join_orderers
}

join_orderers() { # the channel participation API: no system channel
  local i dir admin
  for ((i = 0; i < ORDERERS; i++)); do
    dir=$(ord_path "$i")
    admin=$(orderer_addr "$i"); admin="${admin%:*}:$(( ${admin##*:} + 3 ))"
    "$FABRIC_HOME/bin/osnadmin" channel join --channelID "$CHANNEL" --config-block "$STATE/configtx/$CHANNEL.block" \
      -o "$admin" --ca-file "$(ORDERER_TLS_CA)" \
      --client-cert "$dir/tls/server.crt" --client-key "$dir/tls/server.key" >"$STATE/logs/osnadmin$i.log" 2>&1 \
      || die "orderer$i did not join $CHANNEL: $(cat "$STATE/logs/osnadmin$i.log")"
  done
  log "channel $CHANNEL joined by $ORDERERS orderer(s) through the channel participation API"
}

start_peers() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    log "peer0 of $org on 127.0.0.1:$(peer_port "$org")"
    start_bg "peer-$org" env $(peer_env "$org" peer) FABRIC_LOGGING_SPEC=warning:gateway=info \
      "$FABRIC_HOME/bin/peer" node start
  done
  for org in "${PEER_ORGS[@]}"; do wait_port "$(peer_port "$org")" "peer of $org"; done
  join_peers
}

join_peers() {
  local org n
  for org in "${PEER_ORGS[@]}"; do
    for n in 1 2 3 4 5; do
      as_admin "$org" channel join -b "$STATE/configtx/$CHANNEL.block" >>"$STATE/logs/join-$org.log" 2>&1 && break
      sleep 1
      [[ $n == 5 ]] && die "peer of $org did not join: $(tail -3 "$STATE/logs/join-$org.log")"
    done
  done
  log "peers joined $CHANNEL"
}

package_chaincode() { # CCaaS: the package holds only where the peer dials, and TLS
  local org pkgdir
  for org in "${PEER_ORGS[@]}"; do
    pkgdir=$(cc_dir "$org")
    mkdir -p "$pkgdir/src"
    "$PY" -m ledger_gw.fabric.netsetup cc-tls "$STATE/crypto" "$org" "$pkgdir/tls"
    "$PY" -m ledger_gw.fabric.netsetup connection "$pkgdir/tls" "$(cc_addr "$org")" "$pkgdir/src/connection.json"
    printf '{"type":"ccaas","label":"%s"}\n' "$CC_NAME" >"$pkgdir/src/metadata.json"
    # the packages hold the chaincode client's TLS key: its owner's only, as the key is
    (umask 077
      tar -C "$pkgdir/src" -czf "$pkgdir/code.tar.gz" connection.json
      tar -C "$pkgdir" -czf "$pkgdir/$CC_NAME.tar.gz" -C "$pkgdir/src" metadata.json -C "$pkgdir" code.tar.gz)
    env FABRIC_CFG_PATH="$STATE/peers/$org" "$FABRIC_HOME/bin/peer" lifecycle chaincode \
      calculatepackageid "$pkgdir/$CC_NAME.tar.gz" >"$pkgdir/package-id"
  done
}

install_chaincode() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    as_admin "$org" lifecycle chaincode install "$(cc_dir "$org")/$CC_NAME.tar.gz" >"$STATE/logs/install-$CC_NAME-$org.log" 2>&1 \
      || die "install on $org failed: $(tail -3 "$STATE/logs/install-$CC_NAME-$org.log")"
  done
}

start_chaincode_servers() { # local mode: one chaincode server per organisation
  local org pkgdir id
  for org in "${PEER_ORGS[@]}"; do
    pkgdir=$(cc_dir "$org"); id=$(cat "$pkgdir/package-id")
    log "chaincode server of $org ($id) on $(cc_addr "$org")"
    start_bg "chaincode-$org" "$PY" -m ledger_gw.fabric.chaincode_server \
      --address "$(cc_addr "$org")" --id "$id" --consortium "$STATE/workspace/consortium.json" \
      --tls-cert "$pkgdir/tls/server.pem" --tls-key "$pkgdir/tls/server.key" --tls-client-ca "$pkgdir/tls/ca.pem"
  done
  for org in "${PEER_ORGS[@]}"; do wait_port "$(cc_port "$org")" "chaincode server of $org"; done
}

approve() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    as_admin "$org" lifecycle chaincode approveformyorg $(orderer_flags) --channelID "$CHANNEL" \
      --name "$CC_NAME" --version "$CC_VERSION" --sequence 1 \
      --package-id "$(cat "$(cc_dir "$org")/package-id")" \
      --signature-policy "$POLICY" >"$STATE/logs/approve-$CC_NAME-$org.log" 2>&1 \
      || die "approval by $org failed: $(tail -3 "$STATE/logs/approve-$CC_NAME-$org.log")"
  done
  log "approved by ${PEER_ORGS[*]}"
}

commit() { # by the first agency's admin; the others' peers endorse with their own keys
  local targets=() dir org
  for org in "${AGENCIES[@]}"; do
    dir=$(org_path "$org")
    targets+=(--peerAddresses "$(peer_addr "$org")" --tlsRootCertFiles "$dir/tlsca/tlsca.$(lower "$org").ledger.local-cert.pem")
  done
  as_admin "${AGENCIES[0]}" lifecycle chaincode commit $(orderer_flags) --channelID "$CHANNEL" \
    --name "$CC_NAME" --version "$CC_VERSION" --sequence 1 --signature-policy "$POLICY" \
    "${targets[@]}" >"$STATE/logs/commit-$CC_NAME.log" 2>&1 || die "commit failed: $(tail -5 "$STATE/logs/commit-$CC_NAME.log")"
  log "chaincode $CC_NAME committed with endorsement policy $POLICY"
}

approve_and_commit() { approve; commit; }

write_profile() { # profile.json; and profile-ORG.json, each agency's gateway's own
  local specs=() org other attest=() urls
  for org in "${PEER_ORGS[@]}"; do specs+=("$org=$(peer_addr "$org")"); done
  local among; among=$(IFS=,; echo "${AGENCIES[*]}")
  local common=(--channel "$CHANNEL" --chaincode "$CC_NAME" --policy "$REQUIRED:$among")
  # Locally every organisation's directory is on this machine (as the workspace holds
  # every signer), so the one profile states validity with every agency's key.
  if [[ $MODE == local ]]; then for org in "${AGENCIES[@]}"; do attest+=(--attest "$org"); done; fi
  "$PY" -m ledger_gw.fabric.netsetup profile "$STATE" "${common[@]}" "${attest[@]}" "${specs[@]}"
  for org in "${AGENCIES[@]}"; do
    urls=()
    for other in "${AGENCIES[@]}"; do
      [[ $other == "$org" ]] || urls+=(--statement "$other=$(gateway_url "$other")")
    done
    "$PY" -m ledger_gw.fabric.netsetup profile "$STATE" "${common[@]}" --name "profile-$org.json" \
      --default-peer "$org" --attest "$org" "${urls[@]}" "${specs[@]}"
  done
}

wait_ready() { # until every endorsing agency's gateway can have a write endorsed
  "$PY" -m ledger_gw.demo.ping "$STATE/profile.json" --timeout "${FABRIC_READY_TIMEOUT:-120}" \
    >"$STATE/logs/ping.log" 2>&1 || die "not ready: $(tail -3 "$STATE/logs/ping.log")"
  log "$(tail -1 "$STATE/logs/ping.log")"
}

stop_all() {
  [[ -d "$STATE/pids" ]] || return 0
  local f pid
  for f in "$STATE"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    pid=$(cat "$f")
    # each was started by setsid: its process group is its own PID
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for f in "$STATE"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

start_extra_servers() { # deploy: COMMAND once per organisation, told where and who it is
  local org pkgdir
  for org in "${PEER_ORGS[@]}"; do
    pkgdir=$(cc_dir "$org")
    log "chaincode $CC_NAME of $org on $(cc_addr "$org")"
    start_bg "chaincode-$CC_NAME-$org" env CHAINCODE_SERVER_ADDRESS="$(cc_addr "$org")" \
      CHAINCODE_ID="$(cat "$pkgdir/package-id")" CHAINCODE_TLS_CERT="$pkgdir/tls/server.pem" \
      CHAINCODE_TLS_KEY="$pkgdir/tls/server.key" CHAINCODE_TLS_CLIENT_CA="$pkgdir/tls/ca.pem" \
      CHAINCODE_CONSORTIUM="$STATE/workspace/consortium.json" "$@"
  done
  for org in "${PEER_ORGS[@]}"; do wait_port "$(cc_port "$org")" "chaincode $CC_NAME of $org"; done
}

cmd=${1:-}; shift || true
ORG=""
if [[ $cmd == setup-org ]]; then ORG=${1:-}; shift || true; [[ -n $ORG ]] || die "setup-org ORG"; fi
if [[ $cmd == deploy ]]; then
  [[ $# -ge 4 && $3 == -- ]] || die "usage: $0 deploy NAME PORT_OFFSET -- COMMAND..."
  CC_NAME=$1; CC_PORT_OFFSET=$2; shift 3
  [[ $CC_NAME =~ ^[a-z][a-z0-9_-]*$ && $CC_NAME != ledger ]] || die "deploy: bad chaincode name $CC_NAME"
  [[ $CC_PORT_OFFSET =~ ^[0-9]+$ ]] && ((CC_PORT_OFFSET > 5 && CC_PORT_OFFSET < 50)) \
    || die "deploy: PORT_OFFSET is 6..49 (0..5 are the peer's and the contract's ports)"
  [[ -e "$STATE/profile.json" ]] || die "deploy: no network up in $STATE"
  check_home
  load_env
  package_chaincode
  install_chaincode
  start_extra_servers "$@"
  approve_and_commit
  log "deployed $CC_NAME"
  exit 0
fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --orderers) ORDERERS=$2; shift 2 ;;
    --compose) MODE=compose; STATE="${FABRIC_STATE:-$HERE/.state-compose}"; shift ;;
    --consortium) CONSORTIUM=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ $ORDERERS == 1 || $ORDERERS == 3 ]] || die "--orderers is 1 or 3"
[[ $cmd == up || $cmd == prepare ]] || load_env

case $cmd in
  up)
    check_home
    [[ -e "$STATE/pids" ]] && [[ -n "$(ls -A "$STATE/pids" 2>/dev/null)" ]] && die "already up ($STATE): run down first"
    rm -rf "$STATE"
    trap 'if [[ -z "${UP_OK:-}" ]]; then log "up failed; stopping what was started (state kept in $STATE)"; stop_all; fi' EXIT
    take_consortium
    make_config
    package_chaincode
    start_orderers
    start_peers
    mkdir -p "$STATE/logs"
    install_chaincode
    start_chaincode_servers
    approve_and_commit
    write_profile
    wait_ready
    UP_OK=1
    log "up: profile $STATE/profile.json, workspace $STATE/workspace"
    ;;
  prepare) # artefacts for docker-compose.yml: network.sh prepare --compose
    check_home
    [[ $MODE == compose ]] || die "prepare is for --compose (up prepares the local network itself)"
    rm -rf "$STATE"
    take_consortium
    make_config
    package_chaincode
    write_profile
    mkdir -p "$STATE/secrets"
    for org in "${AGENCIES[@]}"; do # each gateway's dashboard session secret
      (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/secrets/session-$(lower "$org")")
    done
    log "prepared $STATE for docker compose (then: docker compose up -d)"
    ;;
  setup) # inside the fabric-tools container of docker-compose.yml: channel and chaincode
    MODE=compose
    mkdir -p "$STATE/logs"
    join_orderers
    join_peers
    install_chaincode
    approve_and_commit
    ;;
  # The same in steps, each run with one organisation's keys only (docker-compose.yml):
  setup-orderer) # the orderers join the channel (the orderer organisation's TLS keys)
    MODE=compose; mkdir -p "$STATE/logs"; join_orderers ;;
  setup-org) # ORG's admin joins its peer, installs and approves the chaincode
    MODE=compose; mkdir -p "$STATE/logs"; PEER_ORGS=("$ORG")
    join_peers; install_chaincode; approve ;;
  commit) # the first agency's admin commits the definition the members approved
    MODE=compose; mkdir -p "$STATE/logs"; commit ;;
  down)
    stop_all
    rm -rf "$STATE"
    log "down: nothing left running from $STATE"
    ;;
  status)
    for f in "$STATE"/pids/*.pid; do
      [[ -e "$f" ]] || { echo "down"; exit 0; }
      name=$(basename "$f" .pid); pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null; then echo "$name $pid running"; else echo "$name $pid dead"; fi
    done
    ;;
  *) echo "usage: $0 up [--orderers 3] [--consortium FILE] | down | status | deploy NAME PORT_OFFSET -- COMMAND... | prepare --compose [--orderers 3] | setup | setup-orderer | setup-org ORG | commit" >&2; exit 2 ;;
esac
