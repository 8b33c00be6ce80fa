-- GET list pages; PATHS_FILE holds one path per line (first pages and deep cursors).
package.path = package.path .. ";" .. os.getenv("WRK_DIR") .. "/?.lua"
require "report"
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
local auth = os.getenv("AUTH")
request = function()
  return wrk.format("GET", paths[math.random(1, #paths)], {["Authorization"] = auth})
end
done = report
