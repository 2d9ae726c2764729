//go:build mpi

package mpi

import (
	"bytes"
	"testing"
)

// TestWorld checks the binding's collectives on a real job: run it under mpirun
// (.ci/run: go test -tags mpi -c ./mpi, then mpirun -np 2 on the binary); alone it skips.
func TestWorld(t *testing.T) {
	if launchedSize() < 2 {
		t.Skip("not started by mpirun with several processes: go test -tags mpi -c -o mpi.test ./mpi && mpirun -np 2 ./mpi.test")
	}
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	r, n := c.Rank(), c.Size()
	if r < 0 || r >= n {
		t.Fatalf("rank %d of %d", r, n)
	}
	// Sums of values every rank can predict: rank r sends r+1 and r·0.5 (exact in binary).
	f32 := []float32{float32(r + 1), float32(r) * 0.5, -1}
	if err := c.AllreduceSum32(f32); err != nil {
		t.Fatal(err)
	}
	f64 := []float64{float64(r + 1), 1e300, float64(r) * 0.25}
	if err := c.AllreduceSum64(f64); err != nil {
		t.Fatal(err)
	}
	tri := float64(n * (n + 1) / 2)
	sum := float64(n*(n-1)) / 2
	if f32[0] != float32(tri) || f32[1] != float32(sum*0.5) || f32[2] != float32(-n) {
		t.Errorf("rank %d: float32 allreduce %v, want [%v %v %v]", r, f32, tri, sum*0.5, -n)
	}
	if f64[0] != tri || f64[1] != float64(n)*1e300 || f64[2] != sum*0.25 {
		t.Errorf("rank %d: float64 allreduce %v", r, f64)
	}
	// Allgather: rank r sends r repeated 3 times.
	recv := make([]byte, 3*n)
	if err := c.Allgather(bytes.Repeat([]byte{byte(r)}, 3), recv); err != nil {
		t.Fatal(err)
	}
	for i, b := range recv {
		if int(b) != i/3 {
			t.Fatalf("rank %d: allgather %v", r, recv)
		}
	}
	if err := c.Allgather([]byte{1}, make([]byte, 1)); err == nil && n > 1 {
		t.Error("allgather into a short buffer did not fail")
	}
	// Bcast from the last rank.
	buf := []byte("........")
	if r == n-1 {
		copy(buf, "from-top")
	}
	if err := c.Bcast(buf, n-1); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "from-top" {
		t.Errorf("rank %d: bcast gave %q", r, buf)
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
