package kernel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KeyringEnv names a GnuPG keyring (gpg --export, binary or --armor) that
// holds the key kernel.org signs its sha256sums.asc files with: the
// "Kernel.org checksum autosigner" (autosigner@kernel.org). With it a
// download trusts only the checksums under a good signature by a key of
// the keyring; without it the signature is not checked, and the download
// says so.
const KeyringEnv = "KTSTR_KERNEL_KEYRING"

// verifyClearsigned checks the clearsigned message msg with gpgv against
// keyring alone (an empty home directory: no key of the user's counts) and
// returns the signed text, without what may surround it unsigned, and the
// signing key's fingerprint.
func verifyClearsigned(ctx context.Context, keyring string, msg []byte) (signed []byte, signer string, err error) {
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		return nil, "", fmt.Errorf("%s is set, and checking the signature needs gpgv, which is not installed (Debian: gpgv)", KeyringEnv)
	}
	tmp, err := os.MkdirTemp("", "ktstr-gpgv-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	ring, err := binaryKeyring(keyring, tmp)
	if err != nil {
		return nil, "", err
	}
	out := filepath.Join(tmp, "signed")
	cmd := exec.CommandContext(ctx, gpgv, "--homedir", tmp, "--keyring", ring, "--status-fd", "1", "--output", out, "-")
	cmd.Stdin = bytes.NewReader(msg)
	var status, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &status, &stderr
	runErr := cmd.Run()
	signer = validSigner(status.String())
	if runErr != nil || signer == "" {
		return nil, "", signatureError(status.String(), stderr.String(), keyring)
	}
	signed, err = os.ReadFile(out)
	if err != nil {
		return nil, "", fmt.Errorf("gpgv wrote no signed text: %w", err)
	}
	return signed, signer, nil
}

// binaryKeyring returns the path of keyring as gpgv reads it: absolute (a
// name without a slash is looked up in GnuPG's home), and de-armoured into
// dir when it is ASCII-armoured, which gpgv does not read.
func binaryKeyring(keyring, dir string) (string, error) {
	abs, err := filepath.Abs(keyring)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", KeyringEnv, err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		return abs, nil
	}
	raw, err := dearmor(b)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", KeyringEnv, keyring, err)
	}
	p := filepath.Join(dir, "keyring.gpg")
	return p, os.WriteFile(p, raw, 0o600)
}

// dearmor decodes an ASCII-armoured OpenPGP block (RFC 4880 §6.2): header
// lines up to a blank line, then base64 up to the END line; the line that
// starts with '=' is the CRC-24, which the packets' own checks make moot.
func dearmor(b []byte) ([]byte, error) {
	var body strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	state := 0 // 0 before BEGIN, 1 headers, 2 body
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case state == 0 && strings.HasPrefix(l, "-----BEGIN PGP"):
			state = 1
		case state == 1 && l == "":
			state = 2
		case state == 1 && !strings.Contains(l, ": "):
			state = 2 // no headers, no blank line
			body.WriteString(l)
		case state == 2 && strings.HasPrefix(l, "-----END PGP"):
			raw, err := base64.StdEncoding.DecodeString(body.String())
			if err != nil {
				return nil, fmt.Errorf("armoured key block: %w", err)
			}
			return raw, nil
		case state == 2 && !strings.HasPrefix(l, "="):
			body.WriteString(l)
		}
	}
	return nil, errors.New("armoured key block without its END line")
}

// validSigner is the primary key fingerprint of gpgv's VALIDSIG status
// line (its last field), "" without one.
func validSigner(status string) string {
	for _, l := range strings.Split(status, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "[GNUPG:]" && f[1] == "VALIDSIG" {
			return f[len(f)-1]
		}
	}
	return ""
}

// signatureError says in one line why gpgv did not accept the message,
// from its status lines, else its last line of text.
func signatureError(status, stderr, keyring string) error {
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "[GNUPG:]" {
			continue
		}
		id := ""
		if len(f) > 2 {
			id = f[2]
		}
		switch f[1] {
		case "BADSIG":
			return fmt.Errorf("bad signature by key %s: the checksums are not the ones that key signed; refused", id)
		case "EXPKEYSIG", "REVKEYSIG":
			return fmt.Errorf("signed by key %s, which is expired or revoked (%s); refused", id, f[1])
		case "NO_PUBKEY":
			return fmt.Errorf("signed by key %s, which the keyring %s does not hold; refused", id, keyring)
		case "NODATA":
			return fmt.Errorf("no OpenPGP signature in it; refused (the keyring %s asks for one)", keyring)
		}
	}
	last := "gpgv failed"
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			last = l
		}
	}
	return fmt.Errorf("signature not verified: %s; refused", last)
}
