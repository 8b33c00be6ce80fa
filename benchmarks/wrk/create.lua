-- POST a create request with a fresh address each time; AUTH comes from the environment.
package.path = package.path .. ";" .. os.getenv("WRK_DIR") .. "/?.lua"
require "report"
local counter = 0
local auth = os.getenv("AUTH")
local account = os.getenv("ACCOUNT")
request = function()
  counter = counter + 1
  local body = string.format(
    '{"accountId": "%s", "rawEmails": ["user%d.%d@example.com"], ' ..
    '"sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="]}',
    account, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/data/deletion-requests/emails",
    {["Content-Type"] = "application/json", ["Authorization"] = auth}, body)
end
done = report
