package machine

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigHZ(t *testing.T) {
	if hz := hzFrom(strings.NewReader("# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n")); hz != 250 {
		t.Errorf("hz %d, want 250", hz)
	}
	dir := t.TempDir()
	gz, plain := filepath.Join(dir, "config.gz"), filepath.Join(dir, "config")
	os.WriteFile(plain, []byte("CONFIG_HZ=1000\n"), 0o644)
	if hz := configHZ(gz, plain); hz != 1000 {
		t.Errorf("from /boot's copy: %d, want 1000", hz)
	}
	f, _ := os.Create(gz)
	zw := gzip.NewWriter(f)
	zw.Write([]byte("CONFIG_HZ=300\n"))
	zw.Close()
	f.Close()
	if hz := configHZ(gz, plain); hz != 300 {
		t.Errorf("the embedded config wins: %d, want 300", hz)
	}
	if hz := configHZ(filepath.Join(dir, "none.gz"), filepath.Join(dir, "none")); hz != 0 {
		t.Errorf("no config: %d", hz)
	}
	if k := RunningKernel("/sys"); k.KernelRelease == "" || k.UptimeS <= 0 {
		t.Errorf("this machine's kernel: %+v", k)
	}
}
