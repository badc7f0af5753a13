package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	pluginName = "vault-plugin-secrets-salesforce"

	// pluginV2Command is the file name of the rebuilt plugin the upgrade
	// test registers as the second version, beside the first in one
	// plugin directory.
	pluginV2Command = pluginName + "-v0.1.1"

	// procDeadline bounds every process a test starts, so that nothing
	// outlives a hung test run.
	procDeadline = 10 * time.Minute
)

// bins holds what TestMain found or built once for every test.
var bins struct {
	vault     string
	sfemu     string
	pluginDir string // holds pluginName (v0.1.0) and pluginV2Command (v0.1.1)
	shaV1     string
	shaV2     string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// go test runs a package's tests in its directory.
	repo, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "sf-e2e-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := prepare(repo, tmp); err != nil {
		// Fail loudly: a suite that skips when Vault is missing proves nothing.
		fmt.Fprintf(os.Stderr, "e2e: FAIL: cannot prepare the end-to-end suite: %v\n", err)
		return 1
	}
	return m.Run()
}

func prepare(repo, tmp string) error {
	start := time.Now()
	cmd := exec.Command(filepath.Join(repo, "scripts", "get-vault.sh"))
	cmd.Dir = repo
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("scripts/get-vault.sh (finds or builds vault >= 1.15): %w", err)
	}
	bins.vault = strings.TrimSpace(string(out))
	if fi, err := os.Stat(bins.vault); err != nil || fi.IsDir() {
		return fmt.Errorf("scripts/get-vault.sh printed %q, which is not a file", bins.vault)
	}
	fmt.Fprintf(os.Stderr, "e2e: vault %s (%s)\n", bins.vault, time.Since(start).Round(time.Second))

	bins.pluginDir = filepath.Join(tmp, "plugins")
	if err := os.MkdirAll(bins.pluginDir, 0o755); err != nil {
		return err
	}
	bins.sfemu = filepath.Join(tmp, "sfemu")
	race := raceEnabled && os.Getenv("E2E_RACE") != "0"
	var raceFlag []string
	if race {
		raceFlag = []string{"-race"}
	}
	// The plugin is built by scripts/build.sh, as make build and make
	// release build it, so that the suite tests the recipe users run.
	buildSh := filepath.Join(repo, "scripts", "build.sh")
	builds := [][]string{
		append([]string{buildSh, "v0.1.0", filepath.Join(bins.pluginDir, pluginName)}, raceFlag...),
		append([]string{buildSh, "v0.1.1", filepath.Join(bins.pluginDir, pluginV2Command)}, raceFlag...),
		append(append([]string{"go", "build"}, raceFlag...), "-o", bins.sfemu, "./cmd/sfemu"),
	}
	start = time.Now()
	for _, b := range builds {
		cmd := exec.Command(b[0], b[1:]...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(b, " "), err, out)
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: built plugin v0.1.0, v0.1.1 and sfemu (race=%v) in %s\n", race, time.Since(start).Round(time.Second))
	if bins.shaV1, err = fileSHA256(filepath.Join(bins.pluginDir, pluginName)); err != nil {
		return err
	}
	if bins.shaV2, err = fileSHA256(filepath.Join(bins.pluginDir, pluginV2Command)); err != nil {
		return err
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before ours binds; starters retry on "address already in use".
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a process a test started: in its own process group (so that
// Vault's plugin processes go with it), logging to a file, killed at its
// deadline and when the test ends.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid after done is closed
	stopped sync.Once
}

// startProc starts bin with args. env replaces the environment entirely.
func startProc(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logDir := t.TempDir()
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating log for %s: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = logDir
	// Setpgid: the group includes the plugin processes Vault spawns.
	// Pdeathsig: if the test binary dies, so does the process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	deadline := time.AfterFunc(procDeadline, func() {
		fmt.Fprintf(os.Stderr, "e2e: %s: killing %s at its %s deadline\n", t.Name(), name, procDeadline)
		p.kill()
	})
	t.Cleanup(func() {
		deadline.Stop()
		p.stop()
		if t.Failed() {
			t.Logf("--- last lines of %s log (%s):\n%s", name, logPath, tail(logPath, 60))
		}
		if raceEnabled {
			if b, err := os.ReadFile(logPath); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
				t.Errorf("%s (or a plugin it ran) reported a data race; log:\n%s", name, extractRace(b))
			}
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// stop ends the process group: SIGTERM, then SIGKILL after 15s. A second call
// waits for nothing.
func (p *proc) stop() {
	p.stopped.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.kill()
			<-p.done
		}
		// Vault's plugin processes may outlive a Vault killed hard; the
		// group is theirs too.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	})
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func extractRace(b []byte) string {
	i := bytes.Index(b, []byte("WARNING: DATA RACE"))
	j := i + 8000
	if j > len(b) {
		j = len(b)
	}
	return string(b[i:j])
}

// baseEnv is the environment for child processes: ours without any VAULT_*
// variable (a developer's VAULT_ADDR or VAULT_NAMESPACE must not leak in),
// with HOME in a temporary directory so that ~/.vault-token is never read
// or written.
func baseEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

// eventually polls cond until it returns nil or the timeout passes, then
// fails the test with cond's last error.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 100 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
		if interval < time.Second {
			interval += interval / 2
		}
	}
}

// runCmd runs a short-lived command with a timeout and returns stdout and
// stderr separately.
func runCmd(timeout time.Duration, env []string, dir, bin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("timed out after %s", timeout))
	}
	return stdout.String(), stderr.String(), err
}
