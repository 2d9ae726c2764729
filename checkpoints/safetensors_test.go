package checkpoints

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// handWritten assembles a safetensors file from a literal header and little-endian
// values, as the format's rules describe it, without using the package's writer.
func handWritten(t *testing.T, header string, values ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, uint64(len(header))); err != nil {
		t.Fatal(err)
	}
	b.WriteString(header)
	for _, v := range values {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// A file written by hand following the official rules: tensors listed out of name order,
// data laid out in yet another order, __metadata__ between tensors, an F64 tensor, a
// scalar, an empty tensor, and no padding (readers must accept any header length).
const handHeader = `{"b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},` +
	`"__metadata__":{"format":"pt","note":"by hand"},` +
	`"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},` +
	`"s":{"dtype":"F32","shape":[],"data_offsets":[32,36]},` +
	`"z":{"dtype":"F32","shape":[0,3],"data_offsets":[36,36]}}`

func handFile(t *testing.T, header string) []byte {
	return handWritten(t, header,
		[]float64{0.1, -1e300},
		[]uint32{0x3f800000, 0xc0200000, 0x00000001, 0x7f800000}, // 1, -2.5, smallest subnormal, +Inf
		float32(42))
}

func TestParseHandWrittenFile(t *testing.T) {
	padded := handHeader + strings.Repeat(" ", (8-len(handHeader)%8)%8)
	for _, header := range []string{handHeader, padded, handHeader + " \n\t"} {
		f, err := ParseSafetensors("hand.safetensors", handFile(t, header))
		if err != nil {
			t.Fatalf("header %q: %v", header, err)
		}
		if got := f.Metadata; len(got) != 2 || got["format"] != "pt" || got["note"] != "by hand" {
			t.Errorf("metadata = %v", got)
		}
		if len(f.Tensors) != 4 {
			t.Fatalf("got %d tensors, want 4", len(f.Tensors))
		}
		a, b, s, z := f.Tensors[0], f.Tensors[1], f.Tensors[2], f.Tensors[3]
		if a.Name != "a" || b.Name != "b" || s.Name != "s" || z.Name != "z" {
			t.Fatalf("names = %v, want sorted a b s z", tensorNames(f.Tensors))
		}
		if a.Dtype() != F32 || !equalShape(a.Shape, []int{2, 2}) {
			t.Errorf("a: %s %v", a.Dtype(), a.Shape)
		}
		want := []float32{1, -2.5, math.Float32frombits(1), float32(math.Inf(1))}
		for i := range want {
			if math.Float32bits(a.Data[i]) != math.Float32bits(want[i]) {
				t.Errorf("a[%d] = %g, want %g", i, a.Data[i], want[i])
			}
		}
		if b.Dtype() != F64 || b.Data != nil || len(b.Data64) != 2 || b.Data64[0] != 0.1 || b.Data64[1] != -1e300 {
			t.Errorf("b = %+v", b)
		}
		if len(s.Shape) != 0 || len(s.Data) != 1 || s.Data[0] != 42 {
			t.Errorf("scalar s = %+v", s)
		}
		if !equalShape(z.Shape, []int{0, 3}) || len(z.Data) != 0 {
			t.Errorf("empty z = %+v", z)
		}
	}
}

// TestWriterByteLayout checks the writer's bytes against a file assembled by hand.
func TestWriterByteLayout(t *testing.T) {
	var got bytes.Buffer
	ts := []Tensor{
		{Name: "b", Shape: []int{1, 1}, Data: []float32{-0.5}},
		{Name: "a", Shape: []int{2}, Data: []float32{1, 2}},
	}
	if err := EncodeSafetensors(&got, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	// 141 bytes of JSON padded with 3 spaces to 144 = 0x90; then a = [1, 2], b = [-0.5].
	want := []byte{0x90, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}   `...)
	want = append(want, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0xbf)
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("writer bytes:\n got %q\nwant %q", got.Bytes(), want)
	}
}

// TestWriterFollowsFormatRules writes random tensors and checks the file against the
// format's rules with a generic JSON decoder.
func TestWriterFollowsFormatRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ts []Tensor
	for i := range 12 {
		shape := []int{1 + rng.IntN(3), rng.IntN(4), 1 + rng.IntN(5)}
		if i == 5 {
			shape = []int{}
		}
		n, _ := numElements(shape)
		tt := Tensor{Name: string(rune('a'+rng.IntN(26))) + string(rune('0'+i%10)) + strings.Repeat("x", i), Shape: shape}
		if i%4 == 3 {
			tt.Data64 = make([]float64, n)
			for j := range tt.Data64 {
				tt.Data64[j] = rng.NormFloat64()
			}
		} else {
			tt.Data = make([]float32, n)
			for j := range tt.Data {
				tt.Data[j] = float32(rng.NormFloat64())
			}
		}
		ts = append(ts, tt)
	}
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, ts, map[string]string{"format": "pt", "who": "test <&>"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b[:8])
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	header := b[8 : 8+n]
	if header[0] != '{' {
		t.Errorf("header starts with %q", header[0])
	}
	if trimmed := bytes.TrimRight(header, " "); !bytes.HasSuffix(trimmed, []byte("}")) || len(header)-len(trimmed) > 7 {
		t.Errorf("header is not JSON padded with at most 7 spaces: ...%q", header[len(header)-10:])
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(h["__metadata__"], &meta); err != nil || meta["who"] != "test <&>" {
		t.Errorf("metadata %s: %v", h["__metadata__"], err)
	}
	data := b[8+n:]
	var end int
	for i, tt := range layoutByHand(ts) {
		var info struct {
			Dtype       string `json:"dtype"`
			Shape       []int  `json:"shape"`
			DataOffsets []int  `json:"data_offsets"`
		}
		if err := json.Unmarshal(h[tt.Name], &info); err != nil {
			t.Fatalf("tensor %s: %v", tt.Name, err)
		}
		if info.DataOffsets[0] != end {
			t.Errorf("tensor %d %s begins at %d, want %d (contiguous)", i, tt.Name, info.DataOffsets[0], end)
		}
		size := 4
		if tt.Data64 != nil {
			size = 8
			if info.Dtype != "F64" {
				t.Errorf("%s dtype %s", tt.Name, info.Dtype)
			}
		} else if info.Dtype != "F32" {
			t.Errorf("%s dtype %s", tt.Name, info.Dtype)
		}
		if info.DataOffsets[0]%size != 0 {
			t.Errorf("%s at offset %d is not aligned to %d", tt.Name, info.DataOffsets[0], size)
		}
		if !equalShape(info.Shape, tt.Shape) {
			t.Errorf("%s shape %v, want %v", tt.Name, info.Shape, tt.Shape)
		}
		raw := data[info.DataOffsets[0]:info.DataOffsets[1]]
		for j, v := range tt.Data {
			if got := binary.LittleEndian.Uint32(raw[4*j:]); got != math.Float32bits(v) {
				t.Fatalf("%s[%d] bytes %08x, want %08x", tt.Name, j, got, math.Float32bits(v))
			}
		}
		for j, v := range tt.Data64 {
			if got := binary.LittleEndian.Uint64(raw[8*j:]); got != math.Float64bits(v) {
				t.Fatalf("%s[%d] bytes %016x, want %016x", tt.Name, j, got, math.Float64bits(v))
			}
		}
		end = info.DataOffsets[1]
	}
	if end != len(data) {
		t.Errorf("tensors end at %d, the buffer has %d bytes", end, len(data))
	}
	if len(h) != len(ts)+1 {
		t.Errorf("header has %d keys, want %d", len(h), len(ts)+1)
	}
}

// layoutByHand is the official writer's order: F64 before F32, then by name.
func layoutByHand(ts []Tensor) []Tensor {
	var f64, f32 []Tensor
	for _, t := range ts {
		if t.Data64 != nil {
			f64 = append(f64, t)
		} else {
			f32 = append(f32, t)
		}
	}
	sortByName := func(s []Tensor) {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && s[j].Name < s[j-1].Name; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
	}
	sortByName(f64)
	sortByName(f32)
	return append(f64, f32...)
}

// TestRoundTripBitsAndDeterminism: any order of the same tensors gives the same bytes, and
// reading gives back every bit, NaN payloads and negative zero included.
func TestRoundTripBitsAndDeterminism(t *testing.T) {
	ts := []Tensor{
		{Name: "conv1.weight", Shape: []int{2, 1, 1, 2}, Data: []float32{float32(math.Copysign(0, -1)), math.Float32frombits(0x7fc00123), math.Float32frombits(0xff800000), 3.5}},
		{Name: "conv1.bias", Shape: []int{2}, Data: []float32{math.MaxFloat32, math.SmallestNonzeroFloat32}},
		{Name: "bn1.running_mean", Shape: []int{1}, Data: []float32{-7}},
		{Name: "x64", Shape: []int{1}, Data64: []float64{math.Float64frombits(0x7ff8000000000abc)}},
	}
	var a, b bytes.Buffer
	if err := EncodeSafetensors(&a, ts, nil); err != nil {
		t.Fatal(err)
	}
	rev := []Tensor{ts[3], ts[1], ts[2], ts[0]}
	if err := EncodeSafetensors(&b, rev, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same tensors in another order gave other bytes")
	}
	f, err := ParseSafetensors("rt", a.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata != nil {
		t.Errorf("metadata = %v, want none", f.Metadata)
	}
	byName := map[string]Tensor{}
	for _, x := range f.Tensors {
		byName[x.Name] = x
	}
	for _, want := range ts {
		got := byName[want.Name]
		if !equalShape(got.Shape, want.Shape) || got.Len() != want.Len() || got.Dtype() != want.Dtype() {
			t.Fatalf("%s: got %+v", want.Name, got)
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Errorf("%s[%d] bits %08x, want %08x", want.Name, i, math.Float32bits(got.Data[i]), math.Float32bits(want.Data[i]))
			}
		}
		for i := range want.Data64 {
			if math.Float64bits(got.Data64[i]) != math.Float64bits(want.Data64[i]) {
				t.Errorf("%s[%d] bits differ", want.Name, i)
			}
		}
	}
}

func TestWriteSafetensorsFileAndRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.safetensors")
	ts := []Tensor{{Name: "w", Shape: []int{3}, Data: []float32{1, 2, 3}}}
	if err := WriteSafetensors(p, ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(p, ts, nil); err != nil { // replaces
		t.Fatal(err)
	}
	f, err := ReadSafetensors(p)
	if err != nil || len(f.Tensors) != 1 || f.Tensors[0].Data[2] != 3 {
		t.Fatalf("read back %+v, %v", f, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want only the file (no temporaries)", len(ents))
	}
	if _, err := ReadSafetensors(filepath.Dir(p)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("reading a folder: %v", err)
	}
}

// TestReaderRefusesHugeHeader uses a sparse file, so the 100 MB it needs cost nothing.
func TestReaderRefusesHugeHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.safetensors")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(f, binary.LittleEndian, uint64(maxHeaderSize+1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 + maxHeaderSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = ReadSafetensors(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "exceeds the format's limit") {
		t.Errorf("error %v, want the file and the header limit", err)
	}
}

func TestWriterRefusesBadTensors(t *testing.T) {
	cases := []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"empty name", []Tensor{{Shape: []int{1}, Data: []float32{1}}}, "empty name"},
		{"duplicate", []Tensor{{Name: "a", Shape: []int{}, Data: []float32{1}}, {Name: "a", Shape: []int{}, Data: []float32{2}}}, `"a" appears twice`},
		{"reserved", []Tensor{{Name: "__metadata__", Shape: []int{}, Data: []float32{1}}}, "reserved"},
		{"short data", []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3}}}, "holds 4 values but the data has 3"},
		{"negative dim", []Tensor{{Name: "a", Shape: []int{-1}, Data: nil}}, "negative dimension"},
		{"both dtypes", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}, Data64: []float64{1}}}, "more than one type"},
		{"float and int", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}, Int64: []int64{1}}}, "more than one type"},
		{"bad utf8", []Tensor{{Name: "a\xff", Shape: []int{}, Data: []float32{1}}}, "UTF-8"},
	}
	for _, c := range cases {
		err := EncodeSafetensors(&bytes.Buffer{}, c.ts, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestReaderRefuses feeds damaged and malformed files; each error must name the file and
// say what is wrong.
func TestReaderRefuses(t *testing.T) {
	good := handFile(t, handHeader)
	hdr := func(h string, values ...any) []byte { return handWritten(t, h, values...) }
	one := func(info string) string { return `{"a":` + info + `}` }
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "too short"},
		{"header beyond file", huge, "runs past the end of the file"},
		{"header length 1", hdr("{"), "too small"},
		{"truncated data", good[:len(good)-3], "truncated"},
		{"truncated header", good[:20], "runs past the end"},
		{"trailing garbage", append(append([]byte{}, good...), 0, 0, 0, 0), "trailing data after the last tensor"},
		{"not json", hdr("{not json}  "), "not valid JSON"},
		{"not an object", hdr("[1,2]"), "does not start with '{'"},
		{"leading space", hdr(" {}"), "does not start with '{'"},
		{"trailing junk in header", hdr(`{} x`), "trailing"},
		{"two objects", hdr(`{}{}`), "trailing"},
		{"invalid utf8", hdr("{\"\xff\":1}"), "UTF-8"},
		{"duplicate name", hdr(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, float32(1), float32(2)), `names "a" twice`},
		{"unknown dtype", hdr(one(`{"dtype":"F33","shape":[1],"data_offsets":[0,4]}`), float32(1)), `unknown dtype "F33"`},
		{"unsupported dtype", hdr(one(`{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}`), float32(1)), "dtype BF16 is not supported"},
		{"size vs offsets", hdr(one(`{"dtype":"F32","shape":[2],"data_offsets":[0,4]}`), float32(1)), "needs 8 bytes but data_offsets [0, 4] span 4"},
		{"f64 size", hdr(one(`{"dtype":"F64","shape":[1],"data_offsets":[0,4]}`), float32(1)), "needs 8 bytes"},
		{"negative dim", hdr(one(`{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}`), float32(1)), "negative dimension"},
		{"fractional dim", hdr(one(`{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}`), float32(1)), "shape"},
		{"overflowing shape", hdr(one(`{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}`), float32(1)), "too many elements"},
		{"missing dtype", hdr(one(`{"shape":[1],"data_offsets":[0,4]}`), float32(1)), "no dtype"},
		{"missing shape", hdr(one(`{"dtype":"F32","data_offsets":[0,4]}`), float32(1)), "no shape"},
		{"null offsets", hdr(one(`{"dtype":"F32","shape":[1],"data_offsets":null}`), float32(1)), "no data_offsets"},
		{"unknown field", hdr(one(`{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}`), float32(1)), `unknown field "extra"`},
		{"case-folded field", hdr(one(`{"DTYPE":"F32","shape":[1],"data_offsets":[0,4]}`), float32(1)), `unknown field "DTYPE"`},
		{"three offsets", hdr(one(`{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}`), float32(1)), "must be [begin, end]"},
		{"reversed offsets", hdr(one(`{"dtype":"F32","shape":[0],"data_offsets":[4,0]}`), float32(1)), "not a valid range"},
		{"value not object", hdr(one(`7`)), "want an object"},
		{"metadata not strings", hdr(`{"__metadata__":{"k":1}}`), "__metadata__ must map strings to strings"},
		{"empty name", hdr(`{"":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, float32(1)), "empty tensor name"},
		{"hole", hdr(`{"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, float32(1), float32(2)), "hole"},
		{"overlap", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, float32(1), float32(2)), "overlap"},
		{"offsets beyond file", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, float32(1)), "truncated"},
	}
	for _, c := range cases {
		f, err := ParseSafetensors("bad.safetensors", c.b)
		if err == nil {
			t.Errorf("%s: accepted (%d tensors)", c.name, len(f.Tensors))
			continue
		}
		if f != nil {
			t.Errorf("%s: returned a file with the error", c.name)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "bad.safetensors: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want the file name and %q", c.name, msg, c.want)
		}
	}
}
