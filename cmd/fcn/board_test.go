package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestTrainBoard: fcn train --board prints the URL, serves the run while and after it
// trains, and stops on Ctrl-C with exit status 0.
func TestTrainBoard(t *testing.T) {
	cfg := writeTiny(t)
	out := filepath.Join(t.TempDir(), "runs", "r1")
	cmd, lines, stderr := startFCN(t, "train", "--config", cfg, "--out", out, "--set", "train.steps=4", "--board", "--board-addr", "127.0.0.1:0", "--progress", "off")
	head := waitLine(t, lines, "board: http://")
	url := regexp.MustCompile(`http://[0-9.:]+/`).FindString(head)
	if url == "" {
		t.Fatalf("no URL in %q", head)
	}
	waitLine(t, lines, "board: still serving")
	r, err := http.Get(url + "api/runs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(b), `"name":"r1"`) || !strings.Contains(string(b), `"state":"finished"`) {
		t.Errorf("/api/runs after the run: %s", b)
	}
	cmd.Process.Signal(syscall.SIGINT)
	drain(lines)
	if code := exitCode(cmd.Wait()); code != 0 {
		t.Errorf("exit %d after Ctrl-C\n%s", code, stderr.String())
	}
}

// TestBoardBusyPort: a port in use is an error naming it, before anything is trained.
func TestBoardBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	out := filepath.Join(t.TempDir(), "runs", "r1")
	code, _, stderr := runInProcess(t, "train", "--config", writeTiny(t), "--out", out, "--board", "--board-addr", addr)
	if code == 0 || !strings.Contains(stderr, addr) || !strings.Contains(stderr, "in use") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was created although the board could not start", out)
	}
	code, _, stderr = runInProcess(t, "board", t.TempDir(), "--addr", addr)
	if code == 0 || !strings.Contains(stderr, addr) {
		t.Errorf("fcn board on a busy port: exit %d, %s", code, stderr)
	}
	code, _, stderr = runInProcess(t, "board", filepath.Join(t.TempDir(), "missing"))
	if code == 0 || !strings.Contains(stderr, "not a folder") {
		t.Errorf("fcn board on a missing folder: exit %d, %s", code, stderr)
	}
}
