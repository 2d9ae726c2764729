// Package tfevents writes and reads TensorBoard event files: TFRecord files (each record
// a little-endian uint64 length, the masked CRC-32C of the length, the data, the masked
// CRC-32C of the data) whose records are tensorflow.Event protos. TensorBoard
// (`tensorboard --logdir DIR`) reads the scalars and images written here.
//
// The protos are encoded by hand with protowire: fcn needs four small messages, and
// generating code from TensorFlow's schemas would pull in their whole import tree. The
// field numbers are those of tensorboard/compat/proto/{event,summary}.proto:
//
//	Event      { double wall_time = 1; int64 step = 2; string file_version = 3;
//	             Summary summary = 5; SessionLog session_log = 7; }
//	Summary    { repeated Value value = 1; }
//	Value      { string tag = 1; float simple_value = 2; Image image = 4; }
//	Image      { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//	             bytes encoded_image_string = 4; }
//	SessionLog { SessionStatus status = 1; string checkpoint_path = 2; string msg = 3; }
package tfevents

import (
	"encoding/binary"
	"hash/crc32"
)

// FileVersion is the first event of every file, as TensorFlow writes it.
const FileVersion = "brain.Event:2"

// Session statuses of SessionLog.
const (
	SessionStart      = 1
	SessionStop       = 2
	SessionCheckpoint = 3
)

// Proto field numbers (see the package comment).
const (
	eventWallTime    = 1
	eventStep        = 2
	eventFileVersion = 3
	eventSummary     = 5
	eventSessionLog  = 7

	summaryValue = 1

	valueTag         = 1
	valueSimpleValue = 2
	valueImage       = 4

	imageHeight     = 1
	imageWidth      = 2
	imageColorspace = 3
	imageEncoded    = 4

	sessionStatus         = 1
	sessionCheckpointPath = 2
	sessionMsg            = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC is TFRecord's checksum of b: the CRC-32C rotated right by 15 bits plus a
// constant, so that a CRC of data holding CRCs is not degenerate.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// frame returns data as one TFRecord record.
func frame(data []byte) []byte {
	rec := make([]byte, 0, 16+len(data))
	rec = binary.LittleEndian.AppendUint64(rec, uint64(len(data)))
	rec = binary.LittleEndian.AppendUint32(rec, MaskedCRC(rec[:8]))
	rec = append(rec, data...)
	return binary.LittleEndian.AppendUint32(rec, MaskedCRC(data))
}
