package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/train"
)

// soakSets make the default experiment a soak run: checkpoints every 5 steps and an
// evaluation every 20, each long enough (a 2 MB model, 64 val images) to be killed in.
var soakSets = []string{"--set", "train.steps=200", "--set", "eval.every=20", "--set", "checkpoint.every=5",
	"--set", "checkpoint.keep=2", "--set", "data.synthetic.n_val=64", "--progress", "off"}

// soakPhases are where the soak kills: anywhere, while a checkpoint is being written,
// while an evaluation runs. It cycles through them.
var soakPhases = []string{"anywhere", "checkpoint write", "evaluation"}

// TestKill9Soak (FCN_SOAK=1 only) kills the default experiment's training with SIGKILL
// at 10 points — a random step, in the middle of a checkpoint write, in the middle of an
// evaluation, in turn — resuming after each, and checks that the final weights, the
// metrics log and the evaluations equal an uninterrupted run's, bit for bit.
func TestKill9Soak(t *testing.T) {
	if os.Getenv("FCN_SOAK") != "1" {
		t.Skip("the kill -9 soak runs with FCN_SOAK=1 (about a minute or two)")
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if code, o, e := execFCN(t, append([]string{"train", "--out", ref}, soakSets...)...); code != 0 {
		t.Fatalf("reference run: exit %d\n%s\n%s", code, o, e)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 19))
	t.Logf("kill points seeded with %d", seed)

	dir := filepath.Join(t.TempDir(), "run")
	args := append([]string{"train", "--out", dir}, soakSets...)
	kills := map[string]int{}
	total := 0
	for total < 10 {
		phase := soakPhases[total%len(soakPhases)]
		cmd, lines, stderr := startFCN(t, args...)
		go drain(lines)
		var waitErr error
		exited := make(chan struct{})
		go func() { waitErr = cmd.Wait(); close(exited) }()
		if !waitPhase(dir, phase, rng, exited) {
			<-exited
			t.Fatalf("the run ended (%v) before a kill %s: lengthen the soak run\n%s", waitErr, phase, stderr)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if code := exitCode(waitErr); code != -1 {
			t.Fatalf("kill %d (%s): the run ended with %d, not killed", total+1, phase, code)
		}
		total++
		kills[phase]++
		ck, path, warnings, err := checkpoints.LoadLatestIntact(dir)
		if err != nil {
			t.Fatalf("after kill %d (%s): %v", total, phase, err)
		}
		t.Logf("kill %d (%s): newest intact checkpoint step %d (%s), %d warnings", total, phase, ck.State.Step, filepath.Base(path), len(warnings))
		args = []string{"train", "--out", dir, "--resume", "--progress", "off"}
	}
	if code, o, e := execFCN(t, args...); code != 0 {
		t.Fatalf("final resume: exit %d\n%s\n%s", code, o, e)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(ref, train.ModelFile)), mustRead(t, filepath.Join(dir, train.ModelFile))) {
		t.Errorf("after %d kills (%v): final weights differ from the uninterrupted run", total, kills)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(ref, train.MetricsFile)), mustRead(t, filepath.Join(dir, train.MetricsFile))) {
		t.Errorf("after %d kills: metrics.jsonl differs from the uninterrupted run's", total)
	}
	for s := 20; s <= 200; s += 20 {
		f := filepath.Join(train.EvalsDir, train.EvalDirName(s), train.ConfusionFile)
		if !bytes.Equal(mustRead(t, filepath.Join(ref, f)), mustRead(t, filepath.Join(dir, f))) {
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
	var st train.Status
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, train.StatusFile)), &st); err != nil || st.State != train.StateFinished {
		t.Errorf("status.json: %+v, %v", st, err)
	}
	t.Logf("%d of %d kills resumed to the uninterrupted run's bits: %v", total, total, kills)
}

// waitPhase waits until the run in dir is in phase, and reports false if the run ended
// first.
func waitPhase(dir, phase string, rng *rand.Rand, exited <-chan struct{}) bool {
	deadline := time.Now().Add(2 * time.Minute)
	ckdir := filepath.Join(dir, checkpoints.DirName)
	target := latestStep(dir) + 1 + rng.IntN(15)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		switch phase {
		case "anywhere":
			if latestStep(dir) >= target {
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				return true
			}
		case "checkpoint write":
			ents, _ := os.ReadDir(ckdir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".tmp-step-") {
					return true
				}
			}
		case "evaluation":
			if evaluating(filepath.Join(dir, train.MetricsFile)) {
				return true
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// evaluating reports whether the last whole line of metrics.jsonl is the train line of
// an evaluation step (every 20), that is, whether that evaluation is under way.
func evaluating(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
		return false
	}
	b = b[:len(b)-1]
	last := b[bytes.LastIndexByte(b, '\n')+1:]
	var l struct {
		Step  int    `json:"step"`
		Split string `json:"split"`
	}
	return json.Unmarshal(last, &l) == nil && l.Split == "" && l.Step%20 == 0
}
