//go:build !unix

package board

import "errors"

var errAddrInUse = errors.New("address already in use")

func alive(pid int) bool { return pid > 0 }
