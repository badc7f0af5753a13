package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// findPluginPID finds the plugin process Vault started: a child of a vault
// process whose executable is the plugin binary. The binary's path is unique
// to one harness run (its state directory), so another Vault on the machine
// cannot be mistaken for ours.
func findPluginPID(pluginPath string) (pid, parent int, err error) {
	want, err := filepath.EvalSymlinks(pluginPath)
	if err != nil {
		return 0, 0, fmt.Errorf("error resolving the plugin path: %w", err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	var found []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if procExe(p) == want || procArg0(p) == want {
			found = append(found, p)
		}
	}
	for _, p := range found {
		pp := procPPID(p)
		if pp > 0 && strings.Contains(filepath.Base(procExe(pp)), "vault") {
			return p, pp, nil
		}
	}
	return 0, 0, fmt.Errorf("no running plugin process for %s with a vault parent (candidates: %v)", want, found)
}

func procExe(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

func procArg0(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	arg0, _, _ := bytes.Cut(b, []byte{0})
	return string(arg0)
}

func procPPID(pid int) int {
	v, _ := procStatus(pid, "PPid")
	return int(v)
}

// procStatus reads one numeric field of /proc/<pid>/status (kB for the Vm
// fields).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// memSample is a process's resident memory at one moment, in KiB.
type memSample struct {
	RSSKiB int64 `json:"rss_kib"`
	HWMKiB int64 `json:"hwm_kib"` // peak RSS so far
}

func sampleMem(pid int) (memSample, error) {
	rss, err := procStatus(pid, "VmRSS")
	if err != nil {
		return memSample{}, err
	}
	hwm, err := procStatus(pid, "VmHWM")
	if err != nil {
		return memSample{}, err
	}
	return memSample{RSSKiB: rss, HWMKiB: hwm}, nil
}

func (m memSample) MiB() float64 { return float64(m.RSSKiB) / 1024 }

// machineInfo is what the report says about where it ran.
type machineInfo struct {
	NProc    int    `json:"nproc"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	Kernel   string `json:"kernel"`
}

func readMachine(nproc int) machineInfo {
	m := machineInfo{NProc: nproc, CPUModel: "unknown", MemTotal: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if kib, err := procStatusFile("/proc/meminfo", "MemTotal"); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kib)/(1024*1024))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func procStatusFile(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux this runs on.
const clockTicks = 100

// procCPU is the CPU time (user and system) a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// utime and stime are the stat file's fields 14 and 15; f starts at 3.
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuMeter measures the CPU that Vault, the plugin and this load generator
// spend during one load phase.
type cpuMeter struct {
	pids  [3]int
	start [3]time.Duration
}

func startCPU(vault, plugin int) *cpuMeter {
	m := &cpuMeter{pids: [3]int{vault, plugin, os.Getpid()}}
	for i, pid := range m.pids {
		m.start[i], _ = procCPU(pid)
	}
	return m
}

// perRequest sets r's CPU figures: each process's CPU over the phase,
// divided by the requests that succeeded.
func (m *cpuMeter) perRequest(r *loadResult) {
	if r.Requests == 0 {
		return
	}
	var per [3]time.Duration
	for i, pid := range m.pids {
		end, err := procCPU(pid)
		if err != nil {
			return
		}
		per[i] = (end - m.start[i]) / time.Duration(r.Requests)
	}
	r.VaultCPU, r.PluginCPU, r.ClientCPU = per[0], per[1], per[2]
}
