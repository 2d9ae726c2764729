package main

import (
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/mpi"
)

// TestTrainUnderMPIWithoutTag: a binary built without -tags mpi, started as one of
// several processes of an MPI job, refuses to train, saying how to build with MPI.
func TestTrainUnderMPIWithoutTag(t *testing.T) {
	if mpi.Enabled {
		t.Skip("built with -tags mpi: mpi_test.go runs real jobs")
	}
	for _, env := range []string{"OMPI_COMM_WORLD_SIZE=2", "PMI_SIZE=4", "PMIX_RANK=0"} {
		cmd := fcnProcess(t, "train", "--config", writeTiny(t), "--out", t.TempDir())
		cmd.Env = append(cmd.Env, env)
		out, err := cmd.CombinedOutput()
		if exitCode(err) != 1 || !strings.Contains(string(out), "built without MPI support") || !strings.Contains(string(out), "-tags mpi") {
			t.Errorf("%s: exit %v, output:\n%s", env, err, out)
		}
	}
	// One process of a one-process job trains as usual.
	cmd := fcnProcess(t, "train", "--config", writeTiny(t), "--out", t.TempDir(), "--set", "train.steps=1", "--progress", "off")
	cmd.Env = append(cmd.Env, "OMPI_COMM_WORLD_SIZE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("OMPI_COMM_WORLD_SIZE=1: %v\n%s", err, out)
	}
}
