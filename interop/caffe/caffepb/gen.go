// Package caffepb is Go code generated from caffe.proto, the subset of Caffe's schema
// that fcn reads and writes.
//
// To regenerate after editing caffe.proto (protoc 3.21+, Debian's protobuf-compiler, and protoc-gen-go v1.36.12 from
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`, on
// PATH): go generate ./interop/caffe/caffepb
package caffepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative caffe.proto
