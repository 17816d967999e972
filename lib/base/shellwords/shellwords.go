// Package shellwords splits a line into words as a POSIX shell does before
// it expands anything, and quotes words so that they split back the same.
// ktstr-boot --scheduler-args takes a scheduler's arguments in one flag:
// '-x "a b"' is two arguments, -x and a b, as typed in a shell.
package shellwords

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnterminated is wrapped by Split's error for a quote that is never
// closed or a backslash that ends the line.
var ErrUnterminated = errors.New("unterminated")

// Split splits s into words by the POSIX shell's rules, with no expansion:
// blanks (space, tab, newline) separate words; a backslash keeps the next
// character as it is (a backslash-newline is removed); single quotes keep
// everything up to the next single quote; double quotes keep everything up
// to the next unescaped double quote, a backslash in them escaping only $,
// `, ", \ and newline. $, `, *, ~ and the like are ordinary characters: no
// variable, command or file name is expanded. Quotes make a word even when
// empty: a pair of quotes with nothing between them is an empty word.
func Split(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%w backslash at the end of %q", ErrUnterminated, s)
			}
			i++
			if s[i] == '\n' { // line continuation
				continue
			}
			w.WriteByte(s[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w single quote at byte %d of %q", ErrUnterminated, i+1, s)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte("$`\"\\\n", s[j+1]) >= 0 {
					j++
					if s[j] != '\n' {
						w.WriteByte(s[j])
					}
					continue
				}
				w.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, fmt.Errorf("%w double quote at byte %d of %q", ErrUnterminated, i+1, s)
			}
			i = j
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// Quote returns word as the shell would need it typed: unchanged when it is
// made only of characters no shell treats specially, else in single
// quotes (a single quote in it closes them, is escaped with a backslash,
// and opens them again).
func Quote(word string) string {
	if word == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(word); i++ {
		c := word[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_@%+=:,./-", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return word
	}
	return "'" + strings.ReplaceAll(word, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces: Split(Join(words)) is
// words.
func Join(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}
