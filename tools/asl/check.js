// Validates statemachine/build.asl.json with asl-validator, an Amazon States
// Language validator independent of the project and of moto: the schema of
// every state, the paths, and the ARNs. The ${...} placeholders are replaced
// by values of the shape AWS gives them, as DefinitionSubstitutions would.
const fs = require("fs");
const path = require("path");
const aslValidator = require("asl-validator");

const file = path.join(__dirname, "..", "..", "statemachine", "build.asl.json");
const values = {
  Partition: "aws",
  BuildsTable: "avatar-builds",
  SubmitFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:avatar-submit",
  CheckStatusFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:avatar-checkstatus",
  NotifyFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:avatar-notify",
};
const text = fs.readFileSync(file, "utf8").replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, key) => {
  if (!(key in values)) {
    console.error(`${file}: no value for the placeholder \${${key}}; add one to tools/asl/check.js`);
    process.exit(1);
  }
  return values[key];
});
const { isValid, errorsText } = aslValidator(JSON.parse(text));
if (!isValid) {
  console.error(`${file} is not valid Amazon States Language:\n${errorsText("\n")}`);
  process.exit(1);
}
console.log(`${path.relative(process.cwd(), file)}: valid Amazon States Language (asl-validator)`);
