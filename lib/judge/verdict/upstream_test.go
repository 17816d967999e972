package verdict

import (
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestUpstreamVerdicts(t *testing.T) {
	v := ErrorVerdict(&record.Error{Source: "ktstr-boot", Line: 3, Message: "not a JSON object"})
	if v.Subject != "ktstr-boot line 3" || v.Status != record.StatusError || len(v.Checks) != 1 ||
		v.Checks[0].Name != "input" || v.Checks[0].Detail != "not a JSON object" {
		t.Errorf("error verdict %+v", v)
	}
	if v := ErrorVerdict(&record.Error{Source: "ktstr-boot", Message: "job x: boom"}); v.Subject != "ktstr-boot" {
		t.Errorf("without a line: subject %q", v.Subject)
	}
	s := SkipVerdict(&record.Skip{Source: "ktstr-topo", Subject: "2n8l", Reason: "does_not_fit", Detail: "64 vCPUs"})
	if s.Subject != "2n8l" || s.Status != record.StatusSkip || s.Checks[0].Value != "does_not_fit" || s.Checks[0].Detail != "64 vCPUs" {
		t.Errorf("skip verdict %+v", s)
	}
	if got := Combine(s.Checks); got != record.StatusSkip {
		t.Errorf("a skip's checks combine to %s", got)
	}
}
