package mem

import (
	"bufio"
	"bytes"
)

// bufioReader wraps a frame for wire.ReadFrame.
func bufioReader(b []byte) *bufio.Reader {
	return bufio.NewReaderSize(bytes.NewReader(b), 16)
}
