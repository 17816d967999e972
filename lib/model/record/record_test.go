package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestMarshalPutsEnvelopeFirst(t *testing.T) {
	b, err := Marshal(&Skip{Subject: "max-cpu", Reason: "host_capacity", Detail: "a < b & c"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"skip","v":1,"subject":"max-cpu","reason":"host_capacity","detail":"a < b & c"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	topo := &Topology{Name: "1n2l4c2t", NUMANodes: 1, LLCs: 2, CoresPerLLC: 4, ThreadsPerCore: 2, CPUs: 16,
		Nodes:     []TopologyNode{{ID: 0, CPUs: "0-15", LLCs: []int{0, 1}}},
		LLCGroups: []LLCGroup{{0, 0, "0-7"}, {1, 0, "8-15"}}, SMTGroups: []string{"0-1"}, Distances: [][]int{{10}}}
	cases := []Record{topo, &Skip{Subject: "x", Reason: "r", Detail: "d", Topology: topo}, &Error{Source: "t", Line: 3, Message: "m"}}
	for _, rec := range cases {
		b, err := Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		back := newOf(t, rec.Kind())
		if err := Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		again, _ := Marshal(back)
		if !bytes.Equal(b, again) {
			t.Errorf("%s: round trip changed the record:\n%s\n%s", rec.Kind(), b, again)
		}
	}
}

func newOf(t *testing.T, k Kind) Record {
	switch k {
	case KindTopology:
		return &Topology{}
	case KindSkip:
		return &Skip{}
	case KindError:
		return &Error{}
	}
	t.Fatalf("no constructor for %s", k)
	return nil
}

func TestUnmarshalRejectsWrongKindAndNewerVersion(t *testing.T) {
	if err := Unmarshal([]byte(`{"kind":"skip","v":1}`), &Topology{}); err == nil {
		t.Error("decoding a skip line as a topology succeeded")
	}
	err := Unmarshal([]byte(`{"kind":"topology","v":99}`), &Topology{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("version 99: err = %v, want a 'newer' error", err)
	}
}

func TestOverlayKeepsUnknownFields(t *testing.T) {
	orig := []byte(`{"kind":"topology","v":1,"name":"old","x_custom":{"a":[1,2]},"cpus":4}`)
	out, err := Overlay(orig, &Topology{Name: "1n1l4c1t", CPUs: 4})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["x_custom"]) != `{"a":[1,2]}` || string(m["name"]) != `"1n1l4c1t"` || string(m["kind"]) != `"topology"` {
		t.Fatalf("overlay lost or kept the wrong fields: %s", out)
	}
	if !bytes.HasPrefix(out, []byte(`{"kind":"topology","v":1,`)) {
		t.Fatalf("overlay must keep the envelope first: %s", out)
	}
}

func readAll(t *testing.T, in string) []Line {
	t.Helper()
	rd := NewReader(strings.NewReader(in), "test")
	var lines []Line
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return lines
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
}

func TestReaderBrokenLineInTheMiddle(t *testing.T) {
	in := `{"kind":"topology","v":1,"name":"a","x":1}
{"kind":"topology","v":1,"name":"b"

{"kind":"skip","v":1,"subject":"c"}
{"no_kind":true}
{"kind":"bogus","v":1}
not json at all
{"kind":"topology","v":1,"name":"d"}`
	lines := readAll(t, in)
	kinds := []Kind{KindTopology, KindError, KindSkip, KindError, KindError, KindError, KindTopology}
	if len(lines) != len(kinds) {
		t.Fatalf("got %d lines, want %d: %+v", len(lines), len(kinds), lines)
	}
	for i, l := range lines {
		if l.Kind != kinds[i] {
			t.Errorf("line %d: kind %q, want %q", l.Num, l.Kind, kinds[i])
		}
	}
	// Well-formed lines pass through byte for byte, unknown fields included.
	if string(lines[0].Raw) != `{"kind":"topology","v":1,"name":"a","x":1}` {
		t.Errorf("passthrough changed the line: %s", lines[0].Raw)
	}
	// The error record names the line number (2) and the problem.
	var e Error
	if err := lines[1].Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Line != 2 || !strings.Contains(e.Message, "invalid JSON") || e.Source != "test" {
		t.Errorf("error record = %+v, want line 2, invalid JSON", e)
	}
	// The blank line still counts for numbering.
	if lines[2].Num != 4 || lines[6].Num != 8 {
		t.Errorf("line numbers %d, %d, want 4, 8", lines[2].Num, lines[6].Num)
	}
}

func TestReaderTooLongLineThenContinues(t *testing.T) {
	long := `{"kind":"topology","v":1,"name":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	lines := readAll(t, long+"\n"+`{"kind":"skip","v":1,"subject":"after"}`+"\n")
	if len(lines) != 2 || lines[0].Kind != KindError || lines[1].Kind != KindSkip {
		t.Fatalf("got %d lines (%v), want an error record then the skip", len(lines), lines)
	}
	if !strings.Contains(lines[0].Err.Error(), "longer than") {
		t.Errorf("err = %v", lines[0].Err)
	}
}

func TestReaderAcceptsLargeLineUnderLimit(t *testing.T) {
	big := `{"kind":"error","v":1,"message":"` + strings.Repeat("y", 8<<20) + `"}`
	lines := readAll(t, big)
	if len(lines) != 1 || lines[0].Kind != KindError || lines[0].Err != nil {
		t.Fatalf("an 8 MiB record was not read as a valid record")
	}
}

func TestLenientReaderReturnsPlainText(t *testing.T) {
	rd := NewReader(strings.NewReader("1,2,4,2\n"), "t")
	rd.Lenient = true
	l, err := rd.Next()
	if err != nil || l.Kind != "" || string(l.Raw) != "1,2,4,2" {
		t.Fatalf("lenient: %+v %v", l, err)
	}
}

func TestWriterOneLinePerRecord(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.Write(&Error{Message: "one"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRaw([]byte(`{"kind":"skip","v":1}`)); err != nil {
		t.Fatal(err)
	}
	want := "{\"kind\":\"error\",\"v\":1,\"message\":\"one\"}\n{\"kind\":\"skip\",\"v\":1}\n"
	if b.String() != want {
		t.Fatalf("got %q", b.String())
	}
}

// FuzzReader: every non-blank input line comes out exactly once, under its
// own line number and in order, and blank ones never; a line that
// encoding/json reads as an object of a known kind and a supported version
// passes through byte for byte (trimmed), any other becomes an error record
// that names its line; every line out is a valid record of its kind.
func FuzzReader(f *testing.F) {
	f.Add([]byte("{\"kind\":\"topology\",\"v\":1}\n{bad\n\n"))
	f.Add([]byte("{\"kind\":\"skip\"}\r\n{\"kind\":\"run\",\"v\":2}"))
	f.Add([]byte("\xff\xfe{\n"))
	f.Add([]byte("  {\"kind\":\"verdict\",\"v\":1,\"x\":[1,2]}  \n\u00a0\n{\"v\":1}\n{\"kind\":null}\n[1]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := NewReader(bytes.NewReader(in), "fuzz")
		var got []Line
		for {
			l, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("unexpected read error: %v", err)
				}
				break
			}
			got = append(got, l)
		}
		k := 0
		for i, text := range bytes.Split(in, []byte("\n")) {
			text = bytes.TrimSpace(text)
			if len(text) == 0 {
				continue
			}
			if k == len(got) {
				t.Fatalf("line %d %q did not come out", i+1, text)
			}
			l := got[k]
			k++
			if l.Num != i+1 {
				t.Fatalf("line %d came out as line %d", i+1, l.Num)
			}
			var h struct {
				Kind *Kind `json:"kind"`
				V    *int  `json:"v"`
			}
			good := text[0] == '{' && json.Unmarshal(text, &h) == nil && h.Kind != nil && h.Kind.Known() && (h.V == nil || *h.V <= Version)
			if good {
				if l.Err != nil || l.Kind != *h.Kind || !bytes.Equal(l.Raw, text) {
					t.Fatalf("line %d %q: came out as %s %q (%v), want it unchanged", l.Num, text, l.Kind, l.Raw, l.Err)
				}
				continue
			}
			var e Error
			if l.Err == nil || l.Kind != KindError || Unmarshal(l.Raw, &e) != nil || e.Line != l.Num || e.Source != "fuzz" {
				t.Fatalf("bad line %d %q came out as %s %q (%v), want an error record naming it", i+1, text, l.Kind, l.Raw, l.Err)
			}
		}
		if k != len(got) {
			t.Fatalf("%d lines came out, the input has %d non-blank ones", len(got), k)
		}
		for _, l := range got {
			if !l.Kind.Known() {
				t.Fatalf("line %d has unknown kind %q", l.Num, l.Kind)
			}
			var h header
			if err := json.Unmarshal(l.Raw, &h); err != nil || h.Kind != l.Kind {
				t.Fatalf("line %d: raw %q is not a %s record: %v", l.Num, l.Raw, l.Kind, err)
			}
		}
	})
}

// TestKtstrVersionRoundTrips (issue 25, item 4): run and verdict records
// carry the version of the ktstr that made them as ktstr_version; it
// survives a decode and encode, and an overlay (ktstr-stats store) keeps
// it; a record from before the field decodes and encodes without it.
func TestKtstrVersionRoundTrips(t *testing.T) {
	for _, rec := range []Record{
		&Run{ID: "r1", KtstrVersion: "v0.0.0-20261129120930-7f96ef686a39+dirty", Job: &Job{ID: "j"}, Outcome: OutcomeCompleted},
		&Verdict{RunID: "r1", KtstrVersion: "(devel)+7f96ef686a39", Subject: "j", Status: StatusPass},
	} {
		b, err := Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil || !strings.HasPrefix(string(m["ktstr_version"]), `"`) {
			t.Fatalf("%s: no ktstr_version in %s", rec.Kind(), b)
		}
		var back Record = &Run{}
		if rec.Kind() == KindVerdict {
			back = &Verdict{}
		}
		if err := Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		if again, _ := Marshal(back); !bytes.Equal(again, b) {
			t.Errorf("%s: round trip changed the record:\n%s\n%s", rec.Kind(), b, again)
		}
		over, err := Overlay(b, storedOnly{rec.Kind()})
		if err != nil || !bytes.Contains(over, m["ktstr_version"]) || !bytes.Contains(over, []byte(`"stored":{`)) {
			t.Errorf("%s: overlay lost ktstr_version: %s %v", rec.Kind(), over, err)
		}
	}
	old := []byte(`{"kind":"verdict","v":1,"run_id":"r1","subject":"j","status":"pass","checks":null}`)
	var v Verdict
	if err := Unmarshal(old, &v); err != nil || v.KtstrVersion != "" {
		t.Fatalf("an older verdict: %+v %v", v, err)
	}
	if again, _ := Marshal(&v); !bytes.Equal(again, old) {
		t.Errorf("an older verdict changed:\n%s\n%s", old, again)
	}
}

// storedOnly overlays a stored field, as ktstr-stats store does.
type storedOnly struct{ kind Kind }

func (s storedOnly) Kind() Kind { return s.kind }
func (storedOnly) MarshalJSON() ([]byte, error) {
	return []byte(`{"stored":{"segment":"s","stored_at":"t"}}`), nil
}
