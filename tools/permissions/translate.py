#!/usr/bin/env python3
"""Translate template.yaml into the plain CloudFormation that `sam deploy` submits.

The SAM transform is what turns `Policies:` (policy templates such as
S3ReadPolicy, inline statements) into the IAM roles AWS will enforce, and the
EventBridge rule's event into a rule with its own role. Reading those roles
from AWS's own translator, rather than from the template as written, is what
makes the permission check independent of our reading of SAM.

Usage: translate.py [TEMPLATE] [--parameter NAME=VALUE ...] > translated.json
"""

import argparse
import copy
import json
import logging
import os
import sys

INSTALL = "pip install cfn-lint"  # which brings aws-sam-translator and PyYAML

# Where `sam package` would have uploaded the functions' code. SAM only needs an
# S3 location to translate; the code plays no part in the roles.
CODE_PLACEHOLDER = "s3://sam-package-placeholder/code.zip"


def load_sam():
    """Import the translator, or exit naming the package and how to install it."""
    try:
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.yaml_helper import yaml_parse
    except ImportError as err:
        sys.exit(f"translate: {err}: the SAM translator is missing for {sys.executable}; "
                 f"install it with: {INSTALL}")
    return Parser, Translator, yaml_parse


def read_template(path):
    """Parse a SAM template, short-form tags (!Ref, !Sub ...) included."""
    _, _, yaml_parse = load_sam()
    with open(path, encoding="utf-8") as f:
        return yaml_parse(f.read())


def package(sam, template_dir):
    """Replace local paths as packaging does, so the translator can run offline.

    Functions get a placeholder S3 location (their code is irrelevant to IAM).
    A state machine's local DefinitionUri is read and inlined as `Definition`:
    `sam package` would upload the file and point DefinitionUri at S3, which
    SAM turns into DefinitionS3Location; inlining gives the same role (SAM
    derives no permission from the definition) and keeps the ASL in the output,
    where the check reads the workflow's service integrations.
    """
    sam = copy.deepcopy(sam)
    for logical_id, res in sam.get("Resources", {}).items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = CODE_PLACEHOLDER
        uri = props.get("DefinitionUri")
        if res.get("Type") == "AWS::Serverless::StateMachine" and isinstance(uri, str) \
                and not uri.startswith("s3://"):
            path = os.path.join(template_dir, uri)
            try:
                with open(path, encoding="utf-8") as f:
                    props["Definition"] = json.load(f)
            except (OSError, ValueError) as err:
                sys.exit(f"translate: {logical_id}'s DefinitionUri {uri}: {err}")
            del props["DefinitionUri"]
    return sam


def translate(sam, template_dir=".", parameters=None):
    """Return the CloudFormation template SAM makes of a parsed SAM template.

    Managed policies are left as ARNs (the loader returns no map): their
    contents are AWS's and are not part of this template's proof.
    """
    Parser, Translator, _ = load_sam()
    from samtranslator.public.exceptions import InvalidDocumentException

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its metrics warnings are noise here
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    try:
        return translator.translate(package(sam, template_dir), parameter_values=dict(parameters or {}),
                                    get_managed_policy_map=lambda: {})
    except InvalidDocumentException as err:
        causes = "; ".join(cause.message for cause in err.causes)
        sys.exit(f"translate: the SAM transform rejected the template: {causes}")


def translate_file(path, parameters=None):
    """Translate the SAM template at path."""
    return translate(read_template(path), os.path.dirname(os.path.abspath(path)), parameters)


def parse_parameters(pairs):
    """Turn NAME=VALUE strings into a dict, exiting on a malformed one."""
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"translate: --parameter {pair!r}: write it as NAME=VALUE")
        out[name] = value
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("template", nargs="?", default="template.yaml")
    ap.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                    help="a template parameter's value (default: the template's)")
    args = ap.parse_args()
    json.dump(translate_file(args.template, parse_parameters(args.parameter)), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
