package caffe

import (
	"flag"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/tiny.caffemodel from tinyModel")

// TestSeedCaffemodel keeps the shipped fuzz seed equal to tinyModel (regenerate with
// go test ./interop/caffe -run TestSeedCaffemodel -write-seeds).
func TestSeedCaffemodel(t *testing.T) {
	b, err := proto.Marshal(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	const p = "testdata/tiny.caffemodel"
	if *writeSeeds {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ParseModel(p, b)
	have, err := ParseModel(p, got)
	if err != nil || !proto.Equal(want, have) {
		t.Errorf("%s is not tinyModel (%v): rerun with -write-seeds", p, err)
	}
}
