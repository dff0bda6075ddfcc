package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// runModels converts OpenCV cascade XML files into the compact form internal/face embeds.
func runModels(args []string) error {
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	out := fs.String("out", "internal/face/models", "directory to write the .cascade files to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, name := range fs.Args() {
		c, err := loadXML(name)
		if err != nil {
			return err
		}
		b, err := c.MarshalBinary()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		dst := filepath.Join(*out, strings.TrimSuffix(filepath.Base(name), ".xml")+".cascade")
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d stages, %d features, %d bytes\n", dst, len(c.Stages), len(c.Features), len(b))
	}
	return nil
}
