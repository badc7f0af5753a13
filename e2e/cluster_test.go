package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Deadlines of the cluster tests. Generous: every wait ends as soon as its
// condition holds, and a shared two-core machine can be slow.
const (
	// clusterUpDeadline bounds init, unseal, joins and the voters' promotion.
	clusterUpDeadline = 2 * time.Minute
	// failoverDeadline bounds a new active node after step-down or SIGKILL:
	// a raft election (about a second with performance_multiplier = 1), the
	// HA lock, and mounting the backends with the plugin.
	failoverDeadline = 90 * time.Second
)

// sys/health answers these codes by default (no query parameters); a sealed
// node answers 503, an uninitialised one 501.
const (
	healthActive   = http.StatusOK
	healthStandby  = http.StatusTooManyRequests // 429
	healthPerfStby = 473
)

// raftNode is one Vault server of a raft cluster. The embedded vaultServer
// points the CLI at this node with the root token, so every vault CLI helper
// works on it.
type raftNode struct {
	*vaultServer
	name        string
	apiPort     int
	clusterPort int
	// procs are every process this node ran (a restart adds one), so that
	// all their logs can be searched.
	procs []*proc
}

// raftCluster is a Vault cluster on integrated storage, on loopback.
type raftCluster struct {
	nodes     []*raftNode
	unsealKey string
	http      *http.Client
}

// startRaftCluster starts n `vault server -config` processes whose raft
// storage retry-joins the others, initialises the first (one key share),
// unseals all of them and waits until all n are voters.
func startRaftCluster(t testing.TB, n int) *raftCluster {
	t.Helper()
	c := &raftCluster{http: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(c.http.CloseIdleConnections)
	for attempt := 1; ; attempt++ {
		if c.tryStart(t, n, attempt) {
			break
		}
		if attempt == 3 {
			t.Fatalf("raft cluster: a port was taken on each of %d attempts", attempt)
		}
	}

	first := c.nodes[0]
	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	first.mustJSON(t, &init, "operator", "init", "-key-shares=1", "-key-threshold=1")
	if len(init.Keys) != 1 || init.RootToken == "" {
		t.Fatalf("operator init answered %d keys and root token %q", len(init.Keys), init.RootToken)
	}
	c.unsealKey = init.Keys[0]
	for _, node := range c.nodes {
		node.Token = init.RootToken
	}
	c.unseal(t, first)
	eventually(t, clusterUpDeadline, first.name+" becomes active", func() error {
		return c.wantHealth(first, healthActive)
	})
	// New nodes join as non-voters and become voters once they have been
	// healthy this long (10s by default).
	first.must(t, "operator", "raft", "autopilot", "set-config", "-server-stabilization-time=2s")
	// The others join through retry_join: each fetches the leader's
	// challenge, and the unseal key answers it.
	c.unseal(t, c.nodes[1:]...)
	c.waitVoters(t, first, n)
	for _, node := range c.nodes[1:] {
		c.waitStandby(t, node)
	}
	return c
}

// tryStart writes every node's configuration and starts the servers. It
// reports false (and stops what it started) when a port was taken, so that
// the caller can try fresh ones.
func (c *raftCluster) tryStart(t testing.TB, n, attempt int) bool {
	t.Helper()
	ports := freePorts(t, 2*n)
	c.nodes = nil
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		node := &raftNode{
			vaultServer: &vaultServer{home: dir, configPath: filepath.Join(dir, "vault.hcl")},
			name:        fmt.Sprintf("node%d", i+1),
			apiPort:     ports[2*i],
			clusterPort: ports[2*i+1],
		}
		node.Addr = fmt.Sprintf("http://127.0.0.1:%d", node.apiPort)
		c.nodes = append(c.nodes, node)
	}
	for _, node := range c.nodes {
		if err := os.WriteFile(node.configPath, []byte(c.config(node)), 0o600); err != nil {
			t.Fatal(err)
		}
		node.start(t, fmt.Sprintf("vault-%s-a%d", node.name, attempt))
	}
	ok := true
	for _, node := range c.nodes {
		if !node.waitUp(t) {
			ok = false
		}
	}
	if !ok {
		for _, node := range c.nodes {
			node.proc.stop()
		}
	}
	return ok
}

// config is a node's server configuration: raft storage that retry-joins
// every other node, plain http on loopback for the API (cluster traffic is
// TLS, set up by Vault itself), one plugin directory for all nodes.
func (c *raftCluster) config(node *raftNode) string {
	var joins strings.Builder
	for _, other := range c.nodes {
		if other != node {
			fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr = %q\n  }\n", other.Addr)
		}
	}
	return fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
  # Elections in about a second instead of five: failover tests wait less.
  performance_multiplier = 1
  # Autopilot promotes a joined node to voter at its reconcile, every 10s
  # by default; with the stabilization time set after init, joins take
  # seconds.
  autopilot_reconcile_interval = "2s"
  autopilot_update_interval    = "1s"
%s}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr         = %q
cluster_addr     = "https://127.0.0.1:%d"
plugin_directory = %q
disable_mlock    = true
log_level        = "debug"
`, filepath.Join(node.home, "raft"), node.name, joins.String(),
		node.apiPort, node.clusterPort, node.Addr, node.clusterPort, bins.pluginDir)
}

// start runs the server on its configuration and data; a restart keeps both.
func (n *raftNode) start(t testing.TB, procName string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(n.home, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	n.proc = startProc(t, procName, baseEnv(n.home), bins.vault, "server", "-config", n.configPath)
	n.procs = append(n.procs, n.proc)
}

// unseal hands each node the unseal key until all are unsealed. A node that
// has not yet fetched the leader's join challenge answers "not initialized"
// and is asked again; the nodes are asked side by side, so that their joins
// overlap.
func (c *raftCluster) unseal(t testing.TB, nodes ...*raftNode) {
	t.Helper()
	// A joining node takes an accepted key at once and unseals when the
	// join completes: the key is handed again only if that takes long.
	const resubmit = 10 * time.Second
	accepted := map[*raftNode]time.Time{}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.name
	}
	eventually(t, clusterUpDeadline, strings.Join(names, ", ")+" unsealed", func() error {
		var errs []string
		for _, node := range nodes {
			if err := c.unsealStep(node, accepted, resubmit); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	})
}

// unsealStep reports nil once the node is unsealed, and hands it the key
// when it has not taken one recently.
func (c *raftCluster) unsealStep(node *raftNode, accepted map[*raftNode]time.Time, resubmit time.Duration) error {
	code, err := c.health(node)
	if err != nil {
		return fmt.Errorf("%s: sys/health: %v", node.name, err)
	}
	if code == healthActive || code == healthStandby || code == healthPerfStby {
		return nil
	}
	if time.Since(accepted[node]) < resubmit {
		return fmt.Errorf("%s: sys/health %d after unseal", node.name, code)
	}
	if _, errOut, err := node.run("operator", "unseal", c.unsealKey); err != nil {
		return fmt.Errorf("%s: sys/health %d; vault operator unseal: %v: %s", node.name, code, err, strings.TrimSpace(errOut))
	}
	accepted[node] = time.Now()
	return fmt.Errorf("%s: sys/health %d after unseal", node.name, code)
}

// health returns the node's sys/health status code.
func (c *raftCluster) health(node *raftNode) (int, error) {
	resp, err := c.http.Get(node.Addr + "/v1/sys/health")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func (c *raftCluster) wantHealth(node *raftNode, want int) error {
	code, err := c.health(node)
	if err != nil {
		return fmt.Errorf("%s: sys/health: %v", node.name, err)
	}
	if code != want {
		return fmt.Errorf("%s: sys/health %d, want %d", node.name, code, want)
	}
	return nil
}

// waitVoters waits until `vault operator raft list-peers` shows want voters
// (new nodes join as non-voters; autopilot promotes them once stable).
func (c *raftCluster) waitVoters(t testing.TB, via *raftNode, want int) {
	t.Helper()
	eventually(t, clusterUpDeadline, fmt.Sprintf("%d raft voters", want), func() error {
		peers, err := c.peers(via)
		if err != nil {
			return err
		}
		voters := 0
		for _, p := range peers {
			if p.Voter {
				voters++
			}
		}
		if voters != want {
			return fmt.Errorf("%d voters among %+v", voters, peers)
		}
		return nil
	})
}

type raftPeer struct {
	NodeID string `json:"node_id"`
	Leader bool   `json:"leader"`
	Voter  bool   `json:"voter"`
}

func (c *raftCluster) peers(via *raftNode) ([]raftPeer, error) {
	out, errOut, err := runCmd(cliTimeout, append(via.env(), "VAULT_FORMAT=json"), via.home, bins.vault,
		"operator", "raft", "list-peers")
	if err != nil {
		return nil, fmt.Errorf("vault operator raft list-peers: %v: %s", err, strings.TrimSpace(errOut))
	}
	var resp struct {
		Data struct {
			Config struct {
				Servers []raftPeer `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("decoding list-peers: %v: %s", err, out)
	}
	return resp.Data.Config.Servers, nil
}

// active waits until exactly one running node reports itself active and
// returns it. Nodes in skip are not asked (a killed one, or the one that
// just stepped down and must not be the answer).
func (c *raftCluster) active(t testing.TB, timeout time.Duration, skip ...*raftNode) *raftNode {
	t.Helper()
	var found *raftNode
	eventually(t, timeout, "one node is active", func() error {
		found = nil
		var states []string
		for _, node := range c.nodes {
			if contains(skip, node) || node.proc.exited() {
				continue
			}
			code, err := c.health(node)
			states = append(states, fmt.Sprintf("%s=%d(%v)", node.name, code, err))
			if err == nil && code == healthActive {
				if found != nil {
					return fmt.Errorf("two active nodes: %s", strings.Join(states, " "))
				}
				found = node
			}
		}
		if found == nil {
			return fmt.Errorf("no active node: %s", strings.Join(states, " "))
		}
		return nil
	})
	return found
}

// standbys returns the running nodes that report themselves unsealed
// standbys right now.
func (c *raftCluster) standbys(t testing.TB) []*raftNode {
	t.Helper()
	var out []*raftNode
	for _, node := range c.nodes {
		if node.proc.exited() {
			continue
		}
		if code, err := c.health(node); err == nil && code == healthStandby {
			out = append(out, node)
		}
	}
	return out
}

// kill ends the node's process group (Vault and its plugin processes) with
// SIGKILL: no step-down, no clean shutdown.
func (n *raftNode) kill() {
	n.proc.kill()
	<-n.proc.done
}

// restart starts a node again on its configuration and raft data, unseals
// it, and waits until it is a standby of the cluster.
func (c *raftCluster) restart(t testing.TB, node *raftNode) {
	t.Helper()
	node.start(t, fmt.Sprintf("vault-%s-r%d", node.name, len(node.procs)))
	if !node.waitUp(t) {
		t.Fatalf("%s: its port was taken while it was down:\n%s", node.name, tail(node.proc.logPath, 40))
	}
	c.unseal(t, node)
	c.waitStandby(t, node)
}

// waitStandby waits until the node is a standby that knows the active node,
// so that it can forward requests.
func (c *raftCluster) waitStandby(t testing.TB, node *raftNode) {
	t.Helper()
	eventually(t, clusterUpDeadline, node.name+" is a standby that knows the active node", func() error {
		if err := c.wantHealth(node, healthStandby); err != nil {
			return err
		}
		l, err := c.leader(node)
		if err != nil {
			return err
		}
		if l.IsSelf || l.LeaderAddress == "" {
			return fmt.Errorf("%s: sys/leader %+v", node.name, l)
		}
		return nil
	})
}

// leaderInfo is what sys/leader answers (unauthenticated).
type leaderInfo struct {
	IsSelf        bool   `json:"is_self"`
	LeaderAddress string `json:"leader_address"`
}

func (c *raftCluster) leader(node *raftNode) (leaderInfo, error) {
	var l leaderInfo
	resp, err := c.http.Get(node.Addr + "/v1/sys/leader")
	if err != nil {
		return l, fmt.Errorf("%s: sys/leader: %v", node.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("%s: sys/leader: HTTP %d", node.name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return l, fmt.Errorf("%s: decoding sys/leader: %v", node.name, err)
	}
	return l, nil
}

// logs returns every log of the cluster's processes, by process name.
func (c *raftCluster) logs() map[string]string {
	out := map[string]string{}
	for _, node := range c.nodes {
		for _, p := range node.procs {
			out[p.name+" log"] = p.log()
		}
	}
	return out
}

// freePorts returns n distinct free loopback ports: each listener stays open
// until all are chosen, so that the kernel cannot hand one out twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func contains(nodes []*raftNode, n *raftNode) bool {
	for _, x := range nodes {
		if x == n {
			return true
		}
	}
	return false
}

// tryReadCreds is readCreds for use inside eventually: it returns what went
// wrong instead of failing the test.
func tryReadCreds(v *vaultServer, role string) (lease, error) {
	var l lease
	out, errOut, err := runCmd(cliTimeout, append(v.env(), "VAULT_FORMAT=json"), v.home, bins.vault, "read", "salesforce/creds/"+role)
	if err != nil {
		return l, fmt.Errorf("vault read salesforce/creds/%s: %v: %s", role, err, strings.TrimSpace(errOut))
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return l, fmt.Errorf("decoding creds/%s: %v", role, err)
	}
	if l.ID == "" || l.Data.AccessToken == "" {
		return l, fmt.Errorf("creds/%s answered no lease or no access_token", role)
	}
	return l, nil
}
