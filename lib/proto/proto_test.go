package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCollect(t *testing.T) {
	in := `{"type":"hello","t":0.1,"hello":{"kernel_release":"6.12.117","cmdline":"x","uptime_s":1.5}}
not json
{"t":2}

{"type":"done","t":3}
{"type":"exec","t":3.1,"exec":{"command":"x","exit_code":0,"stdout":"partial`
	msgs, errs := Collect(strings.NewReader(in))
	if len(msgs) != 2 || msgs[0].Hello.KernelRelease != "6.12.117" || msgs[1].Type != MsgDone {
		t.Fatalf("messages %+v", msgs)
	}
	if len(errs) != 3 {
		t.Fatalf("errors %v, want 3 (not json, no type, truncated)", errs)
	}
	var me *MalformedError
	if !errors.As(errs[2], &me) || !strings.Contains(me.Reason, "truncated") || me.Line != 6 {
		t.Errorf("last error %v", errs[2])
	}
}

// FuzzDecoder: the decoder agrees line by line with encoding/json (a line
// is a message exactly when it decodes and has a type; every other
// non-empty line is an error naming its number, a last line without a
// newline is truncated), and the messages it returns survive being written
// back as NDJSON and read again.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte(`{"type":"done","t":1}` + "\n"))
	f.Add([]byte("{\n\n{\"type\":\"x\"}"))
	f.Add([]byte(`{"type":"hello","t":0.1,"hello":{"kernel_release":"6.12"}}` + "\n \n{\"t\":2}\n\n" + `{"type":"log","text":"a\u00e9"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, errs := Collect(bytes.NewReader(data))
		lines := bytes.Split(data, []byte("\n"))
		var want []Message
		var wantErrs []int
		for i, l := range lines {
			last := i == len(lines)-1
			switch {
			case last && len(l) > 0:
				wantErrs = append(wantErrs, i+1) // truncated
			case len(l) == 0:
			default:
				var m Message
				if json.Unmarshal(l, &m) != nil || m.Type == "" {
					wantErrs = append(wantErrs, i+1)
				} else {
					want = append(want, m)
				}
			}
		}
		if !reflect.DeepEqual(msgs, want) {
			t.Fatalf("messages %+v, encoding/json line by line %+v", msgs, want)
		}
		if len(errs) != len(wantErrs) {
			t.Fatalf("errors %v, want one for each of lines %v", errs, wantErrs)
		}
		for i, err := range errs {
			var me *MalformedError
			if !errors.As(err, &me) || me.Line != wantErrs[i] {
				t.Fatalf("error %d is %v, want one for line %d", i, err, wantErrs[i])
			}
		}
		var out bytes.Buffer
		for _, m := range msgs {
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out.Write(append(b, '\n'))
		}
		back, errs := Collect(bytes.NewReader(out.Bytes()))
		var again bytes.Buffer
		for _, m := range back {
			b, _ := json.Marshal(m)
			again.Write(append(b, '\n'))
		}
		if len(errs) != 0 || !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("round trip %q → %q, errors %v", out.Bytes(), again.Bytes(), errs)
		}
	})
}
