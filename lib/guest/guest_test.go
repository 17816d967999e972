package guest

import "testing"

func TestLimitedBuffer(t *testing.T) {
	l := &limitedBuffer{limit: 5}
	l.Write([]byte("abc"))
	l.Write([]byte("defg"))
	if l.buf.String() != "abcde" || !l.dropped {
		t.Errorf("%q dropped=%v", l.buf.String(), l.dropped)
	}
}
