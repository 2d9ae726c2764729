//go:build mpi

package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
)

// These tests run real Open MPI jobs whose ranks are this test binary acting as fcn
// (asMainEnv): go test -tags mpi ./cmd/fcn -run MPI (as .ci/run does).

// mpirunFCN returns `mpirun -np np fcn args...`; with mpmd, the second half of the ranks
// run args2 instead (MPMD ":" syntax), np/2 each.
func mpirunFCN(t *testing.T, np int, args []string, args2 []string) *exec.Cmd {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found: install openmpi-bin and libopenmpi-dev (apt-get) to run the MPI tests")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--allow-run-as-root", "--oversubscribe", "-x", asMainEnv}
	var a []string
	if args2 == nil {
		a = append(append(base, "-np", strconv.Itoa(np), exe), args...)
	} else {
		a = append(append(base, "-np", strconv.Itoa(np/2), exe), args...)
		a = append(append(a, ":", "-np", strconv.Itoa(np-np/2), exe), args2...)
	}
	cmd := exec.Command(mpirun, a...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

func mpirunOK(t *testing.T, np int, args ...string) string {
	t.Helper()
	out, err := mpirunFCN(t, np, args, nil).CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun -np %d fcn %s: %v\n%s", np, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func tinyOf(t *testing.T, sets ...string) *configs.Experiment {
	t.Helper()
	exp, err := configs.Parse("tiny.yaml", "tiny", []byte(tinyExperiment), sets, nil)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// TestMPITrainMatches: np=2 under mpirun gives bit for bit the model of the in-process
// ranks (train.LocalComms: sums r0 + r1, as MPI_Allreduce of two ranks), twice, and
// within 1e-5 relative the model of one process with the same passes.
func TestMPITrainMatches(t *testing.T) {
	cfg := writeTiny(t)
	sets := []string{"--set", "train.batch_size=4", "--set", "train.iter_size=1", "--progress", "off"}
	var first []byte
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "run")
		out := mpirunOK(t, 2, append([]string{"train", "--config", cfg, "--out", dir}, sets...)...)
		if n := strings.Count(out, "done: 6 steps"); n != 1 {
			t.Errorf("the job printed its result %d times, want once (rank 0):\n%s", n, out)
		}
		m := mustRead(t, filepath.Join(dir, train.ModelFile))
		if i == 0 {
			first = m
		} else if !bytes.Equal(first, m) {
			t.Fatal("two np=2 runs under mpirun differ")
		}
	}

	local := t.TempDir()
	comms := train.LocalComms(2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[r] = train.Run(context.Background(), tinyOf(t, "train.batch_size=4", "train.iter_size=1"), train.Options{OutDir: local, Comm: comms[r]})
			if errs[r] != nil {
				comms[r].Abort(1)
			}
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if !bytes.Equal(first, mustRead(t, filepath.Join(local, train.ModelFile))) {
		t.Error("np=2 under mpirun and np=2 in process differ")
	}

	one := t.TempDir()
	if _, err := train.Run(context.Background(), tinyOf(t, "train.batch_size=2", "train.iter_size=2"), train.Options{OutDir: one}); err != nil {
		t.Fatal(err)
	}
	a, b := readTensors(t, filepath.Join(local, train.ModelFile)), readTensors(t, filepath.Join(one, train.ModelFile))
	for name, bv := range b {
		var diff, scale float64
		for i := range bv {
			diff = max(diff, math.Abs(float64(a[name][i])-float64(bv[i])))
			scale = max(scale, math.Abs(float64(bv[i])))
		}
		// Below 1e-3 a tensor is a numerical zero (conv2's bias before batch norm).
		if (scale >= 1e-3 && diff > 1e-5*scale) || (scale < 1e-3 && diff > 1e-7) {
			t.Errorf("%s: np=2 and np=1 (batch 2 × 2) differ by %.3g (scale %.3g)", name, diff, scale)
		}
	}
}

func readTensors(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := checkpoints.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]float32{}
	for _, x := range f.Tensors {
		m[x.Name] = x.Data
	}
	return m
}

// rankPID finds the process of rank rank among mpirun's children.
func rankPID(mpirunPID, rank int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(mpirunPID) + "/task/" + strconv.Itoa(mpirunPID) + "/children")
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		env, err := os.ReadFile("/proc/" + f + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == "OMPI_COMM_WORLD_RANK="+strconv.Itoa(rank) {
				pid, _ := strconv.Atoi(f)
				return pid
			}
		}
	}
	return 0
}

// TestMPIRankKilled kills rank 1, then (another run) rank 0, mid-run: the job ends
// within 30 s, mpirun saying which rank died; the newest checkpoint is intact, resumes
// under np=2 to the uninterrupted np=2 run's final weights bit for bit, and (after the
// first kill) resumes under np=1.
func TestMPIRankKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs MPI jobs for several seconds")
	}
	cfg := writeTiny(t)
	sets := []string{"--set", "train.batch_size=4", "--set", "train.iter_size=1", "--set", "train.steps=1000",
		"--set", "eval.every=500", "--set", "checkpoint.every=10", "--set", "checkpoint.keep=2", "--progress", "off"}
	ref := filepath.Join(t.TempDir(), "ref")
	mpirunOK(t, 2, append([]string{"train", "--config", cfg, "--out", ref}, sets...)...)
	want := mustRead(t, filepath.Join(ref, train.ModelFile))

	for _, victim := range []int{1, 0} {
		dir := filepath.Join(t.TempDir(), "run")
		cmd := mpirunFCN(t, 2, append([]string{"train", "--config", cfg, "--out", dir}, sets...), nil)
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for latestStep(dir) < 50 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		pid := rankPID(cmd.Process.Pid, victim)
		if pid == 0 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("rank %d's process not found under mpirun (pid %d)\n%s", victim, cmd.Process.Pid, out.String())
		}
		killed := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Logf("job ended %v after rank %d was killed: %v", time.Since(killed).Round(time.Millisecond), victim, err)
			if err == nil {
				t.Fatalf("the job succeeded although rank %d was killed\n%s", victim, out.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("the job was still running 30 s after rank %d was killed\n%s", victim, out.String())
		}
		if s := out.String(); !strings.Contains(s, "rank "+strconv.Itoa(victim)) || !strings.Contains(s, "signal 9") {
			t.Errorf("the job's output does not say that rank %d died:\n%s", victim, s)
		}
		ck, _, _, err := checkpoints.LoadLatestIntact(dir)
		if err != nil {
			t.Fatalf("after killing rank %d: %v", victim, err)
		}
		if ck.State.Step >= 1000 {
			t.Fatalf("the run had finished (step %d) before the kill", ck.State.Step)
		}
		t.Logf("rank %d killed: newest checkpoint step %d", victim, ck.State.Step)
		copyDir := filepath.Join(t.TempDir(), "copy")
		if err := os.CopyFS(copyDir, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		mpirunOK(t, 2, "train", "--out", dir, "--resume", "--progress", "off")
		if !bytes.Equal(want, mustRead(t, filepath.Join(dir, train.ModelFile))) {
			t.Errorf("rank %d killed, resumed under np=2: final weights differ from the uninterrupted np=2 run", victim)
		}
		if victim == 1 {
			if code, o, e := execFCN(t, "train", "--out", copyDir, "--resume", "--progress", "off"); code != 0 {
				t.Errorf("resume of the np=2 checkpoint under np=1: exit %d\n%s\n%s", code, o, e)
			}
		}
	}
}

// TestMPIRefusesMismatch: ranks started with different experiments are refused at
// start-up, every rank saying why, before anything is written.
func TestMPIRefusesMismatch(t *testing.T) {
	cfg := writeTiny(t)
	dir := filepath.Join(t.TempDir(), "run")
	a := []string{"train", "--config", cfg, "--out", dir, "--set", "train.iter_size=1"}
	out, err := mpirunFCN(t, 2, a, append(append([]string{}, a...), "--set", "train.seed=8")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rank(s) 1 resolved a different experiment") {
		t.Errorf("different train.seed on rank 1: %v\n%s", err, out)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("a refused job wrote %s", dir)
	}
	out, err = mpirunFCN(t, 2, []string{"train", "--config", cfg, "--out", dir, "--set", "train.batch_size=3", "--set", "train.iter_size=1"}, nil).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot be split evenly over 2 ranks") {
		t.Errorf("batch 3 over 2 ranks: %v\n%s", err, out)
	}
}

// TestMPIDefaultExperiment (MPI_TEST_DEFAULT_EXPERIMENT=1; minutes): the default
// experiment for 200 steps under mpirun -np 2 (batch 16: 8 images a rank) against one
// process with batch 8 × iter_size 2: final weights within 1e-5 relative (they are in
// fact the same bits). Then the README's timings: step time of 1 rank × 1 thread,
// 1 rank × 2 threads and 2 ranks × 1 thread on batch 16, as (T(110 steps) − T(10))/100,
// which leaves out start-up and the final evaluation.
func TestMPIDefaultExperiment(t *testing.T) {
	if os.Getenv("MPI_TEST_DEFAULT_EXPERIMENT") != "1" {
		t.Skip("set MPI_TEST_DEFAULT_EXPERIMENT=1 to train the default experiment several times (minutes)")
	}
	// job runs the default experiment for steps steps on ranks × threads.
	job := func(dir string, ranks, threads, steps int, sets ...string) time.Duration {
		args := append([]string{"train", "--out", dir, "--progress", "off", "--set", "train.steps=" + strconv.Itoa(steps)}, sets...)
		var cmd *exec.Cmd
		if ranks > 1 {
			cmd = mpirunFCN(t, ranks, args, nil)
			cmd.Args = append(cmd.Args[:1], append([]string{"-x", "GOMAXPROCS"}, cmd.Args[1:]...)...)
		} else {
			cmd = fcnProcess(t, args...)
		}
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(threads))
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%d ranks × %d threads: %v\n%s", ranks, threads, err, out)
		}
		return time.Since(start)
	}
	np2, np1 := filepath.Join(t.TempDir(), "np2"), filepath.Join(t.TempDir(), "np1")
	job(np2, 2, 1, 200)
	job(np1, 1, 2, 200, "--set", "train.batch_size=8", "--set", "train.iter_size=2")
	a, b := readTensors(t, filepath.Join(np2, train.ModelFile)), readTensors(t, filepath.Join(np1, train.ModelFile))
	worst, at, tiny := 0.0, "", 0.0
	for name, bv := range b {
		var diff, scale float64
		for i := range bv {
			diff = max(diff, math.Abs(float64(a[name][i])-float64(bv[i])))
			scale = max(scale, math.Abs(float64(bv[i])))
		}
		if scale < 1e-3 {
			tiny = max(tiny, diff)
		} else if diff/scale > worst {
			worst, at = diff/scale, name
		}
	}
	same := bytes.Equal(mustRead(t, filepath.Join(np2, train.ModelFile)), mustRead(t, filepath.Join(np1, train.ModelFile)))
	t.Logf("np=2 against np=1 batch 8 × 2 after 200 steps: max relative difference %.3g %s; numerically zero tensors differ by at most %.3g; model.safetensors identical: %v", worst, at, tiny, same)
	if worst > 1e-5 || tiny > 1e-7 {
		t.Errorf("np=2 and np=1 differ by %.3g relative (%s), %.3g absolute on numerical zeros", worst, at, tiny)
	}

	step := map[[2]int]float64{}
	for _, c := range [][2]int{{1, 1}, {1, 2}, {2, 1}} {
		long := job(filepath.Join(t.TempDir(), "long"), c[0], c[1], 110)
		short := job(filepath.Join(t.TempDir(), "short"), c[0], c[1], 10)
		step[c] = (long - short).Seconds() / 100
		t.Logf("%d rank(s) × %d thread(s), batch 16: %.0f ms a step", c[0], c[1], 1000*step[c])
	}
	one := step[[2]int{1, 1}]
	for _, c := range [][2]int{{1, 2}, {2, 1}} {
		t.Logf("%d rank(s) × %d thread(s): speed-up %.2f over 1 × 1, scaling efficiency %.2f", c[0], c[1], one/step[c], one/step[c]/2)
	}
}
