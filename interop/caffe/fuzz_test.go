package caffe

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// Seeds: the prototxts and caffemodels in testdata (tiny.caffemodel is tinyModel; see
// TestSeedCaffemodel).

func seeds(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseNetText: any text parses or is refused with an error, and a parsed net
// imports or is refused — never a panic.
func FuzzParseNetText(f *testing.F) {
	seeds(f, "*.prototxt")
	f.Add([]byte(tinyNet))
	f.Fuzz(func(t *testing.T, b []byte) {
		net, err := ParseNetText("fuzz.prototxt", b)
		if err != nil {
			return
		}
		// Keep the fuzzer's nets small enough to build quickly.
		for _, l := range net.GetLayer() {
			if p := l.GetConvolutionParam(); p != nil && p.GetNumOutput() > 64 {
				return
			}
		}
		_, _ = Import(Files{Net: "fuzz.prototxt"}, net, nil, nil)
	})
}

// FuzzParseModel: any bytes read as a caffemodel or are refused, and the blobs of one
// that parses turn into tensors or an error — never a panic.
func FuzzParseModel(f *testing.F) {
	seeds(f, "*.caffemodel")
	if b, err := proto.Marshal(tinyModel()); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		net, err := ParseModel("fuzz.caffemodel", b)
		if err != nil {
			return
		}
		_, _ = modelTensors("fuzz.caffemodel", net)
	})
}
