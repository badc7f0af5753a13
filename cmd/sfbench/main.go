// Command sfbench measures the Salesforce secrets engine through a running
// Vault: creds throughput and latency against a KV v2 baseline, how few
// grants reach Salesforce, mass revocation of leases that share one token,
// and the plugin process's memory. It writes docs/benchmarks.md.
//
// scripts/bench.sh starts the emulator and a Vault dev server with the
// plugin (through scripts/lib.sh), then runs sfbench against them; sfbench
// starts no server itself. Every load loop is bounded by count and time.
//
//	sfbench -vault-addr http://127.0.0.1:8200 -emu-url https://127.0.0.1:4443 \
//	    -ca STATE/ca.pem -plugin STATE/plugins/vault-plugin-secrets-salesforce \
//	    -vault-bin $(scripts/get-vault.sh) -out docs/benchmarks.md
//
// With -profile-url it does one thing only: it loads one role while it takes
// a CPU profile of a plugin built with -tags pprof (see profile.go).
//
// The Vault token comes from VAULT_TOKEN and is never printed; access tokens
// appear only as SHA-256 prefixes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The emulator users the harness's emulator config (scripts/bench-lib.sh)
// lists. Each phase has its own user, hence its own Salesforce session:
// leases of one phase never keep another phase's token alive.
const (
	userLoad   = "bench-load@example.com"
	userMass   = "bench-mass@example.com"
	userSteady = "bench-steady@example.com"

	roleLoad   = "bench-load"
	roleMass   = "bench-mass"
	roleSteady = "bench-steady"

	// roleTTL outlives the whole run, so no lease expires mid-measurement.
	roleTTL = "1h"
)

type options struct {
	vaultAddr, vaultBin, emuURL, caFile, plugin, pluginVersion string
	mount, connection, scopes                                  string
	out, jsonOut, goBench, cpuTop, memTop, emuNote             string
	profileURL, profileRole, profileOut, pluginTop             string
	duration, warmup, steady, timeout                          time.Duration
	clients                                                    []int
	leases, loadClients                                        int
	skipComparison                                             bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sfbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	var clients string
	fs := flag.NewFlagSet("sfbench", flag.ContinueOnError)
	fs.StringVar(&o.vaultAddr, "vault-addr", os.Getenv("VAULT_ADDR"), "Vault's address (loopback)")
	fs.StringVar(&o.vaultBin, "vault-bin", "vault", "vault binary, for the `vault lease revoke` CLI")
	fs.StringVar(&o.emuURL, "emu-url", "", "the emulator's base URL")
	fs.StringVar(&o.caFile, "ca", "", "the emulator's CA certificate (PEM)")
	fs.StringVar(&o.plugin, "plugin", "", "path of the registered plugin binary, to find its process")
	fs.StringVar(&o.pluginVersion, "plugin-version", "", "plugin version registered (reported if Vault does not say)")
	fs.StringVar(&o.mount, "mount", "salesforce", "where the plugin is enabled")
	fs.StringVar(&o.connection, "connection", "demo", "config/<name> the benchmark roles use")
	fs.StringVar(&o.scopes, "scopes", "api,web,refresh_token", "the benchmark roles' scope ceiling")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "report to write")
	fs.StringVar(&o.jsonOut, "json", "", "also write every figure as JSON here")
	fs.StringVar(&o.goBench, "gobench", "", "go test -bench output to include")
	fs.StringVar(&o.cpuTop, "cpu-top", "", "pprof -top of the CPU profile to include")
	fs.StringVar(&o.memTop, "mem-top", "", "pprof -top of the allocation profile to include")
	fs.StringVar(&o.emuNote, "emu-note", "", "how the emulator was configured, for the report")
	fs.StringVar(&o.pluginTop, "plugin-top", "", "pprof -top of the plugin process's CPU profile under load, to include")
	fs.StringVar(&o.profileURL, "profile-url", "", "profile mode: the pprof base URL of a plugin built with -tags pprof")
	fs.StringVar(&o.profileRole, "profile-role", "", "profile mode: the role of -mount to read")
	fs.StringVar(&o.profileOut, "profile-out", "", "profile mode: where to write the CPU profile")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each throughput phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each throughput phase")
	fs.DurationVar(&o.steady, "steady", 60*time.Second, "length of the one-read-per-second phase")
	fs.DurationVar(&o.timeout, "timeout", 9*time.Minute, "deadline for the whole run")
	fs.StringVar(&clients, "clients", "1,16", "concurrent clients of the throughput phases")
	fs.IntVar(&o.leases, "leases", 10000, "leases for the grant, memory and mass revocation phases")
	fs.IntVar(&o.loadClients, "load-clients", 16, "concurrent clients that create those leases")
	fs.BoolVar(&o.skipComparison, "skip-comparison", false, "do not measure the comparison mounts' revocation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for f := range strings.SplitSeq(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return fmt.Errorf("-clients: %q is not a number from 1 to 256", f)
		}
		o.clients = append(o.clients, n)
	}
	token := os.Getenv("VAULT_TOKEN")
	switch {
	case o.vaultAddr == "" || token == "":
		return errors.New("set VAULT_ADDR (or -vault-addr) and VAULT_TOKEN")
	case o.profileURL != "":
		if o.profileRole == "" || o.profileOut == "" {
			return errors.New("-profile-url needs -profile-role and -profile-out")
		}
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		return profilePlugin(ctx, o, newVaultClient(o.vaultAddr, token, 64))
	case o.emuURL == "" || o.caFile == "" || o.plugin == "":
		return errors.New("-emu-url, -ca and -plugin are required")
	case o.leases < 1 || o.leases > 100000:
		return fmt.Errorf("-leases %d: must be from 1 to 100000", o.leases)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	emu, err := newEmuClient(o.emuURL, o.caFile)
	if err != nil {
		return err
	}
	b := &bench{o: o, vault: newVaultClient(o.vaultAddr, token, 64), emu: emu, token: token}
	b.res.Started = time.Now().UTC()
	b.res.Machine = readMachine(runtime.NumCPU())
	b.res.GoVersion = runtime.Version()
	runErr := b.all(ctx)
	b.res.Finished = time.Now().UTC()
	if runErr != nil {
		b.res.Problems = append(b.res.Problems, runErr.Error())
	}
	if err := b.write(); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if len(b.res.Problems) > 0 {
		return fmt.Errorf("%d problem(s) during the run; see %s", len(b.res.Problems), o.out)
	}
	return nil
}

// bench carries the clients and accumulates results phase by phase.
type bench struct {
	o     options
	vault *vaultClient
	emu   *emuClient
	token string // Vault's, for the CLI's environment; never printed
	res   results
	pid   int // the plugin's process
	vpid  int // Vault's
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sfbench: "+format+"\n", args...)
}

func (b *bench) all(ctx context.Context) error {
	if err := b.setup(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := b.massPhase(ctx); err != nil {
		return fmt.Errorf("leases, grants, memory and mass revocation: %w", err)
	}
	if !b.o.skipComparison {
		b.comparisons(ctx)
	}
	if err := b.throughput(ctx); err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	if err := b.steadyPhase(ctx); err != nil {
		return fmt.Errorf("steady reads: %w", err)
	}
	return nil
}

func (b *bench) setup(ctx context.Context) error {
	var seal struct {
		Version string `json:"version"`
	}
	if err := b.vault.call(ctx, "GET", "sys/seal-status", nil, &seal); err != nil {
		return err
	}
	b.res.VaultVersion = seal.Version

	var mounts map[string]json.RawMessage
	if err := b.vault.call(ctx, "GET", "sys/mounts", nil, &mounts); err != nil {
		return err
	}
	var plugin struct {
		Type                 string `json:"type"`
		RunningPluginVersion string `json:"running_plugin_version"`
		RunningSHA256        string `json:"running_sha256"`
	}
	if raw, ok := mounts[b.o.mount+"/"]; !ok {
		return fmt.Errorf("nothing is mounted at %s/", b.o.mount)
	} else if err := json.Unmarshal(raw, &plugin); err != nil {
		return err
	}
	b.res.PluginVersion = plugin.RunningPluginVersion
	if b.res.PluginVersion == "" {
		b.res.PluginVersion = b.o.pluginVersion
	}
	b.res.PluginSHA256 = plugin.RunningSHA256
	if err := b.ensureKV(ctx, mounts); err != nil {
		return err
	}

	var cfg struct {
		Data struct {
			ReuseInterval int `json:"reuse_interval"`
		} `json:"data"`
	}
	if err := b.vault.call(ctx, "GET", b.o.mount+"/config/"+b.o.connection, nil, &cfg); err != nil {
		return fmt.Errorf("reading the connection: %w", err)
	}
	b.res.ReuseIntervalSeconds = cfg.Data.ReuseInterval
	for role, user := range map[string]string{roleLoad: userLoad, roleMass: userMass, roleSteady: userSteady} {
		err := b.vault.call(ctx, "POST", b.o.mount+"/roles/"+role, map[string]any{
			"connection": b.o.connection, "username": user, "scopes": b.o.scopes,
			"ttl": roleTTL, "max_ttl": roleTTL,
		}, nil)
		if err != nil {
			return fmt.Errorf("creating role %s: %w", role, err)
		}
	}

	pid, parent, err := findPluginPID(b.o.plugin)
	if err != nil {
		return err
	}
	b.pid, b.vpid = pid, parent
	if b.res.MemIdle, err = sampleMem(pid); err != nil {
		return err
	}
	if b.res.VaultMemIdle, err = sampleMem(parent); err != nil {
		return err
	}
	logf("vault %s, plugin %s (pid %d, RSS %.1f MiB with no lease)", b.res.VaultVersion, b.res.PluginVersion, pid, b.res.MemIdle.MiB())
	return nil
}

// ensureKV makes sure secret/ is KV v2, as the dev server mounts it, and
// that it takes writes (a new v2 mount needs a moment to upgrade).
func (b *bench) ensureKV(ctx context.Context, mounts map[string]json.RawMessage) error {
	var kv struct {
		Type    string            `json:"type"`
		Options map[string]string `json:"options"`
	}
	if raw, ok := mounts["secret/"]; ok {
		if err := json.Unmarshal(raw, &kv); err != nil {
			return err
		}
		if kv.Type != "kv" || kv.Options["version"] != "2" {
			return fmt.Errorf("secret/ is %s version %q, not KV v2", kv.Type, kv.Options["version"])
		}
	} else if err := b.vault.call(ctx, "POST", "sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]string{"version": "2"}}, nil); err != nil {
		return fmt.Errorf("enabling KV v2 at secret/: %w", err)
	}
	var err error
	for range 100 {
		if err = b.kvWrite(ctx); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("secret/ does not take writes: %w", err)
}

var kvBody = []byte(`{"data":{"k":"v"}}`)

func (b *bench) kvWrite(ctx context.Context) error {
	_, err := b.vault.raw(ctx, "POST", "secret/data/x", kvBody)
	return err
}

func (b *bench) credsRead(role string) func(context.Context) error {
	path := b.o.mount + "/creds/" + role
	return func(ctx context.Context) error {
		_, err := b.vault.raw(ctx, "GET", path, nil)
		return err
	}
}

// credsAnswer is the part of a creds answer the mass phase checks.
type credsAnswer struct {
	LeaseID string `json:"lease_id"`
	Data    struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	} `json:"data"`
}
