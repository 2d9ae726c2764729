package checkpoints

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Dtype is a safetensors element type that fcn reads.
type Dtype string

// The dtypes fcn reads. Checkpoints hold F32, and I64 for counters (batch norm's
// num_batches_tracked, an int64 scalar as in PyTorch's state_dict); F64 is read from
// foreign files (LoadWeights converts it to float32, as PyTorch's load_state_dict would).
const (
	F32 Dtype = "F32"
	F64 Dtype = "F64"
	I64 Dtype = "I64"
)

// CounterSuffix ends the name of a counter: an I64 scalar such as PyTorch's batch norm
// num_batches_tracked. A model's counters may be missing from a file (older fcn
// checkpoints, foreign files): they then start at 0, as PyTorch's load_state_dict
// does for state dicts saved before the buffer existed.
const CounterSuffix = ".num_batches_tracked"

// IsCounter reports whether name is a counter's (see CounterSuffix).
func IsCounter(name string) bool { return strings.HasSuffix(name, CounterSuffix) }

// size is the element size in bytes.
func (d Dtype) size() int {
	if d == F64 || d == I64 {
		return 8
	}
	return 4
}

// otherDtypes are valid safetensors dtypes fcn does not read; naming them apart from
// garbage makes the error say "unsupported" rather than "unknown".
var otherDtypes = map[string]bool{
	"BOOL": true, "U8": true, "I8": true, "I16": true, "U16": true, "F16": true, "BF16": true,
	"I32": true, "U32": true, "U64": true, "F8_E4M3": true, "F8_E5M2": true,
	"F8_E8M0": true, "F6_E2M3": true, "F6_E3M2": true, "F4": true, "C64": true,
}

// maxHeaderSize is the official implementation's limit on the JSON header (100 MB).
const maxHeaderSize = 100_000_000

// Tensor is a named row-major array. Data holds float32 values; Data64 is set instead
// (and Data is nil) only for F64 tensors read from foreign files, Int64 for I64 tensors
// (counters). At most one of the three is set.
type Tensor struct {
	Name   string
	Shape  []int // PyTorch's layout, e.g. conv weight (C_out, C_in/groups, kh, kw); [] is a scalar
	Data   []float32
	Data64 []float64
	Int64  []int64
}

// Dtype is F64 when Data64 is set, I64 when Int64 is, F32 otherwise.
func (t Tensor) Dtype() Dtype {
	switch {
	case t.Data64 != nil:
		return F64
	case t.Int64 != nil:
		return I64
	}
	return F32
}

// Len is the number of stored values.
func (t Tensor) Len() int {
	switch {
	case t.Data64 != nil:
		return len(t.Data64)
	case t.Int64 != nil:
		return len(t.Int64)
	}
	return len(t.Data)
}

// Checksum is the sum, modulo 2³², of the tensor's bytes read as little-endian uint32
// words, exactly as scripts/read_safetensors.py prints it (u32sum): an exact, order-free
// fingerprint to compare a tensor across languages.
func Checksum(t Tensor) uint32 {
	var s uint32
	if t.Data64 != nil {
		for _, v := range t.Data64 {
			b := math.Float64bits(v)
			s += uint32(b) + uint32(b>>32)
		}
		return s
	}
	for _, v := range t.Int64 {
		s += uint32(v) + uint32(uint64(v)>>32)
	}
	for _, v := range t.Data {
		s += math.Float32bits(v)
	}
	return s
}

// File is a parsed safetensors file.
type File struct {
	Metadata map[string]string // the optional __metadata__ (nil when absent)
	Tensors  []Tensor          // sorted by name
}

// numElements multiplies the dimensions, reporting negative dimensions and overflow.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > math.MaxInt/d {
			// Keep scanning for a zero, which makes any product valid.
			for _, e := range shape {
				if e == 0 {
					return 0, nil
				}
			}
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

// checkTensors validates tensors for writing: names non-empty, unique, valid UTF-8,
// not the reserved __metadata__; data length equal to the shape's element count.
func checkTensors(ts []Tensor) error {
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		switch {
		case t.Name == "":
			return fmt.Errorf("tensor %d has an empty name", i)
		case t.Name == "__metadata__":
			return fmt.Errorf("tensor %d is named __metadata__, a reserved key", i)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("tensor %d: name %q is not valid UTF-8", i, t.Name)
		case seen[t.Name]:
			return fmt.Errorf("tensor %q appears twice", t.Name)
		case (t.Data != nil && t.Data64 != nil) || (t.Int64 != nil && (t.Data != nil || t.Data64 != nil)):
			return fmt.Errorf("tensor %q has data of more than one type", t.Name)
		}
		seen[t.Name] = true
		n, err := numElements(t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if t.Len() != n {
			return fmt.Errorf("tensor %q: shape %v holds %d values but the data has %d", t.Name, t.Shape, n, t.Len())
		}
	}
	return nil
}

// layoutOrder sorts tensors as the official writer does: larger elements first (so every
// tensor is aligned to its element size once the header is padded to 8 bytes), then by name.
func layoutOrder(ts []Tensor) []Tensor {
	out := append([]Tensor(nil), ts...)
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := out[i].Dtype().size(), out[j].Dtype().size()
		if si != sj {
			return si > sj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// jsonString encodes s as a JSON string without HTML escaping, as other writers do.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// encodeHeader builds the padded JSON header for tensors already in layout order.
func encodeHeader(ts []Tensor, metadata map[string]string) []byte {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			h.Write(jsonString(k))
			h.WriteByte(':')
			h.Write(jsonString(metadata[k]))
		}
		h.WriteByte('}')
		first = false
	}
	var off int64
	for _, t := range ts {
		if !first {
			h.WriteByte(',')
		}
		first = false
		h.Write(jsonString(t.Name))
		h.WriteString(`:{"dtype":"`)
		h.WriteString(string(t.Dtype()))
		h.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		end := off + int64(t.Len()*t.Dtype().size())
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	// Pad with spaces so the data starts 8-byte aligned, as the official writer does.
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes()
}

// EncodeSafetensors writes tensors in the safetensors format to w. The bytes depend only
// on the tensors and metadata, not on the order of ts: tensors are laid out by element
// size, then name (by name alone when all are F32), and the header lists them in that order.
func EncodeSafetensors(w io.Writer, ts []Tensor, metadata map[string]string) error {
	if err := checkTensors(ts); err != nil {
		return err
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("metadata %q: not valid UTF-8", k)
		}
	}
	ts = layoutOrder(ts)
	header := encodeHeader(ts, metadata)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	buf := make([]byte, 0, 64<<10)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, t := range ts {
		for _, v := range t.Data {
			if len(buf)+4 > cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		for _, v := range t.Data64 {
			if len(buf)+8 > cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
		for _, v := range t.Int64 {
			if len(buf)+8 > cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
	}
	return flush()
}

// WriteSafetensors writes a safetensors file atomically: into a temporary file in the
// same folder, fsynced, then renamed over path, and the folder fsynced.
func WriteSafetensors(path string, ts []Tensor, metadata map[string]string) error {
	if err := checkTensors(ts); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := writeFileAtomic(path, func(w io.Writer) error { return EncodeSafetensors(w, ts, metadata) }); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ReadSafetensors reads and fully validates a safetensors file of F32/F64 tensors.
// Errors name the file and the problem.
func ReadSafetensors(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return decodeSafetensors(path, bufio.NewReaderSize(f, 1<<20), st.Size())
}

// ParseSafetensors validates and decodes a whole safetensors file held in b; name is
// used in errors.
func ParseSafetensors(name string, b []byte) (*File, error) {
	return decodeSafetensors(name, bytes.NewReader(b), int64(len(b)))
}

// entry is one tensor as the header describes it.
type entry struct {
	name       string
	dtype      Dtype
	shape      []int
	begin, end int64
}

// parseHeader decodes and checks the JSON header: an object whose keys are unique tensor
// names (plus an optional __metadata__ of strings) and whose values describe F32/F64
// tensors with non-negative dimensions and offsets.
func parseHeader(h []byte) (map[string]string, []entry, error) {
	if !utf8.Valid(h) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	if h[0] != '{' {
		return nil, nil, fmt.Errorf("header does not start with '{' (starts with %q)", h[0])
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header is not valid JSON: %v (at byte %d of the header)", err, dec.InputOffset())
	}
	var meta map[string]string
	var entries []entry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %v (at byte %d of the header)", err, dec.InputOffset())
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("header is not valid JSON: unexpected %v", tok)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %v (in %q, at byte %d of the header)", err, name, dec.InputOffset())
		}
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("header: __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, nil, fmt.Errorf("header: tensor %q: %v", name, err)
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("header is not valid JSON: %v (at byte %d of the header)", err, dec.InputOffset())
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, fmt.Errorf("header has trailing bytes after the JSON object: %v", err)
		}
		return nil, nil, fmt.Errorf("header has trailing data after the JSON object (%v)", tok)
	}
	return meta, entries, nil
}

func parseEntry(name string, raw json.RawMessage) (entry, error) {
	if name == "" {
		return entry{}, errors.New("empty tensor name")
	}
	// Decoded by hand rather than into a struct: encoding/json would match field names
	// case-insensitively and accept unknown fields, and the format has exactly these three.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return entry{}, fmt.Errorf("want an object {dtype, shape, data_offsets}, got %.40s", raw)
	}
	for k := range fields {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return entry{}, fmt.Errorf("unknown field %q (want dtype, shape, data_offsets)", k)
		}
	}
	var dtype string
	var shape, off []int64
	for _, f := range []struct {
		key string
		dst any
	}{{"dtype", &dtype}, {"shape", &shape}, {"data_offsets", &off}} {
		v, ok := fields[f.key]
		if !ok || string(v) == "null" {
			return entry{}, fmt.Errorf("no %s", f.key)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return entry{}, fmt.Errorf("%s: %v", f.key, err)
		}
	}
	e := entry{name: name, dtype: Dtype(dtype), shape: make([]int, 0, len(shape))}
	switch {
	case e.dtype == F32 || e.dtype == F64 || e.dtype == I64:
	case otherDtypes[dtype]:
		return entry{}, fmt.Errorf("dtype %s is not supported (fcn reads F32, F64 and I64)", dtype)
	default:
		return entry{}, fmt.Errorf("unknown dtype %q", dtype)
	}
	for _, d := range shape {
		if d < 0 {
			return entry{}, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		e.shape = append(e.shape, int(d))
	}
	if len(off) != 2 {
		return entry{}, fmt.Errorf("data_offsets must be [begin, end], got %v", off)
	}
	e.begin, e.end = off[0], off[1]
	if e.begin < 0 || e.end < e.begin {
		return entry{}, fmt.Errorf("data_offsets [%d, %d] are not a valid range", e.begin, e.end)
	}
	n, err := numElements(e.shape)
	if err != nil {
		return entry{}, err
	}
	if want := int64(n); want > math.MaxInt64/8 || want*int64(e.dtype.size()) != e.end-e.begin {
		return entry{}, fmt.Errorf("shape %v of %s needs %d bytes but data_offsets [%d, %d] span %d",
			e.shape, e.dtype, int64(n)*int64(e.dtype.size()), e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// decodeSafetensors reads a safetensors stream of the given total size. It checks the
// whole header against the size before allocating tensor memory, so a damaged or hostile
// file can neither panic nor make it allocate more than the file's size.
func decodeSafetensors(name string, r io.Reader, size int64) (*File, error) {
	fail := func(format string, args ...any) (*File, error) {
		return nil, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	if size < 8 {
		return fail("%d bytes is too short for a safetensors file (the header length alone takes 8)", size)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return fail("reading the header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	switch {
	case n > uint64(size-8):
		return fail("header length %d runs past the end of the file (%d bytes follow the length field): truncated or not safetensors", n, size-8)
	case n > maxHeaderSize:
		return fail("header length %d exceeds the format's limit of %d bytes", n, maxHeaderSize)
	case n < 2:
		return fail("header length %d is too small for a JSON object", n)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(r, header); err != nil {
		return fail("reading the %d-byte header: %v", n, err)
	}
	meta, entries, err := parseHeader(header)
	if err != nil {
		return fail("%v", err)
	}
	dataLen := size - 8 - int64(n)

	// The tensors must tile the data buffer exactly: sorted by offsets, each begins where
	// the previous ended, and the last ends at the end of the file.
	sorted := append([]entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].begin != sorted[j].begin {
			return sorted[i].begin < sorted[j].begin
		}
		return sorted[i].end < sorted[j].end
	})
	var pos int64
	for _, e := range sorted {
		switch {
		case e.begin < pos:
			return fail("tensor %q: data_offsets [%d, %d] overlap the previous tensor, which ends at %d", e.name, e.begin, e.end, pos)
		case e.begin > pos:
			return fail("tensor %q: data_offsets [%d, %d] leave a %d-byte hole after offset %d", e.name, e.begin, e.end, e.begin-pos, pos)
		}
		pos = e.end
	}
	switch {
	case pos > dataLen:
		return fail("truncated: the header describes %d bytes of tensor data but the file holds %d", pos, dataLen)
	case pos < dataLen:
		return fail("%d bytes of trailing data after the last tensor (the header describes %d bytes, the file holds %d)", dataLen-pos, pos, dataLen)
	}

	byName := make(map[string]*Tensor, len(sorted))
	chunk := make([]byte, 64<<10)
	for _, e := range sorted {
		t := &Tensor{Name: e.name, Shape: e.shape}
		count := int((e.end - e.begin) / int64(e.dtype.size()))
		switch e.dtype {
		case F64:
			t.Data64 = make([]float64, count)
		case I64:
			t.Int64 = make([]int64, count)
		default:
			t.Data = make([]float32, count)
		}
		for done := 0; done < count; {
			k := min(count-done, len(chunk)/e.dtype.size())
			b := chunk[:k*e.dtype.size()]
			if _, err := io.ReadFull(r, b); err != nil {
				return fail("reading tensor %q: %v", e.name, err)
			}
			switch e.dtype {
			case F64:
				for i := range k {
					t.Data64[done+i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
				}
			case I64:
				for i := range k {
					t.Int64[done+i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
				}
			default:
				for i := range k {
					t.Data[done+i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				}
			}
			done += k
		}
		byName[e.name] = t
	}
	// The size said there is nothing more; a stream that disagrees changed under us.
	if k, _ := r.Read(chunk[:1]); k != 0 {
		return fail("the file is longer than its size said: it changed while being read")
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, 0, len(entries))}
	for _, e := range entries {
		f.Tensors = append(f.Tensors, *byName[e.name])
	}
	sort.Slice(f.Tensors, func(i, j int) bool { return f.Tensors[i].Name < f.Tensors[j].Name })
	return f, nil
}

// equalShape reports whether two shapes are the same.
func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// tensorNames lists the tensors' names, sorted.
func tensorNames(ts []Tensor) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	sort.Strings(names)
	return names
}

// formatShape prints a shape as [a b c]; a scalar prints as [].
func formatShape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
